//! The names a caller passes, read without a Python-level loop: a list or tuple of `str`, a
//! NumPy array of strings (`U`, `S`) or objects, a pandas Series, or any Arrow string column
//! (pyarrow arrays and chunked arrays, polars). Every item becomes a name, a missing value
//! (None, NaN, Arrow null) or "not text", so one bad row never fails the call.

use crate::arrow;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyFloat, PyList, PyString, PyTuple};
use std::borrow::Cow;

/// One item of the input.
pub enum Item<'a> {
    Name(Cow<'a, str>),
    /// None, NaN, an Arrow null: no name (verdict `empty`).
    Missing,
    /// Neither text nor missing (a number, bytes that are not UTF-8...): verdict `invalid`.
    NotText(&'static str),
}

impl Item<'_> {
    fn from_bytes(bytes: Vec<u8>) -> Item<'static> {
        match String::from_utf8(bytes) {
            Ok(text) => Item::Name(Cow::Owned(text)),
            Err(_) => Item::NotText("not UTF-8"),
        }
    }
}

/// The names of one call: Python objects whose text is borrowed in place, or text read out
/// of an array's memory.
pub enum Source<'py> {
    Objects(Vec<Bound<'py, PyAny>>),
    Owned(Vec<Item<'static>>),
}

impl Source<'_> {
    pub fn items(&self) -> Vec<Item<'_>> {
        match self {
            Source::Objects(objects) => objects.iter().map(item_of).collect(),
            Source::Owned(items) => items
                .iter()
                .map(|item| match item {
                    Item::Name(name) => Item::Name(Cow::Borrowed(name.as_ref())),
                    Item::Missing => Item::Missing,
                    Item::NotText(why) => Item::NotText(why),
                })
                .collect(),
        }
    }
}

/// Reads `object` as a sequence of names.
pub fn read<'py>(object: &Bound<'py, PyAny>) -> PyResult<Source<'py>> {
    if object.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "pass a sequence of names (a list, array or Series), not one string: \
             score(['example.com'])",
        ));
    }
    // A pandas Series: its Arrow column if it has one, else its values as objects.
    if is_pandas(object) {
        let array = object.getattr("array")?;
        if array.hasattr("__arrow_array__")? {
            let column = array.call_method0("__arrow_array__")?;
            if column.hasattr("__arrow_c_stream__")? {
                return Ok(Source::Owned(from_arrow(arrow::read_stream(&column)?)));
            }
        }
        let object_dtype = object.py().import("builtins")?.getattr("object")?;
        let values = object.call_method1("to_numpy", (object_dtype,))?;
        return read_objects(values.call_method0("tolist")?);
    }
    if object.hasattr("__arrow_c_stream__")? {
        return Ok(Source::Owned(from_arrow(arrow::read_stream(object)?)));
    }
    if object.hasattr("__arrow_c_array__")? {
        return Ok(Source::Owned(from_arrow(arrow::read_array_object(object)?)));
    }
    if object.hasattr("__array_interface__")? && object.hasattr("dtype")? {
        return read_numpy(object);
    }
    if object.is_instance_of::<PyList>() || object.is_instance_of::<PyTuple>() {
        return read_objects(object.clone());
    }
    // Any other iterable (a generator, a set): its items, in iteration order.
    let list = object
        .py()
        .import("builtins")?
        .getattr("list")?
        .call1((object,))
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "cannot read names from a {}: pass a list or tuple of str, a NumPy array, a \
                 pandas Series or an Arrow string array",
                object
                    .get_type()
                    .name()
                    .map_or("?".into(), |n| n.to_string())
            ))
        })?;
    read_objects(list)
}

fn is_pandas(object: &Bound<'_, PyAny>) -> bool {
    let ty = object.get_type();
    ty.module()
        .is_ok_and(|m| m.to_string().starts_with("pandas"))
        && ty.name().is_ok_and(|n| n == "Series")
}

fn from_arrow(values: Vec<arrow::Value>) -> Vec<Item<'static>> {
    values
        .into_iter()
        .map(|value| match value {
            None => Item::Missing,
            Some(bytes) => Item::from_bytes(bytes),
        })
        .collect()
}

/// A list or tuple: each `str` to be borrowed in place.
fn read_objects(sequence: Bound<'_, PyAny>) -> PyResult<Source<'_>> {
    let mut objects = Vec::with_capacity(sequence.len()?);
    for item in sequence.try_iter()? {
        objects.push(item?);
    }
    Ok(Source::Objects(objects))
}

fn item_of<'a>(object: &'a Bound<'_, PyAny>) -> Item<'a> {
    if let Ok(text) = object.cast::<PyString>() {
        return match text.to_str() {
            Ok(text) => Item::Name(Cow::Borrowed(text)),
            // Lone surrogates: not encodable as UTF-8.
            Err(_) => Item::NotText("not encodable as UTF-8"),
        };
    }
    if object.is_none() {
        return Item::Missing;
    }
    if let Ok(number) = object.cast::<PyFloat>()
        && number.value().is_nan()
    {
        return Item::Missing;
    }
    if let Ok(bytes) = object.cast::<PyBytes>() {
        return Item::from_bytes(bytes.as_bytes().to_vec());
    }
    Item::NotText("not a string")
}

/// A one-dimensional NumPy array: fixed-width strings read from its memory, objects as a list.
fn read_numpy<'py>(array: &Bound<'py, PyAny>) -> PyResult<Source<'py>> {
    let ndim: usize = array.getattr("ndim")?.extract()?;
    if ndim != 1 {
        return Err(PyValueError::new_err(format!(
            "expected a one-dimensional array of names, got {ndim} dimensions (use .ravel())"
        )));
    }
    let dtype = array.getattr("dtype")?;
    let kind: String = dtype.getattr("kind")?.extract()?;
    let itemsize: usize = dtype.getattr("itemsize")?.extract()?;
    let length: usize = array.len()?;
    match kind.as_str() {
        "O" => read_objects(array.call_method0("tolist")?),
        // Fixed-width text: UCS-4 code points ('U') or bytes ('S'), NUL-padded.
        "U" | "S" => {
            let numpy = array.py().import("numpy")?;
            let contiguous = numpy.call_method1("ascontiguousarray", (array,))?;
            let bytes = contiguous.call_method0("tobytes")?;
            let bytes = bytes.cast::<PyBytes>()?.as_bytes();
            if itemsize == 0 {
                return Ok(Source::Owned(
                    (0..length).map(|_| Item::Name(Cow::Borrowed(""))).collect(),
                ));
            }
            let native = dtype
                .getattr("byteorder")?
                .extract::<String>()
                .is_ok_and(|order| order != ">");
            Ok(Source::Owned(
                bytes
                    .chunks_exact(itemsize)
                    .map(|cell| {
                        if kind == "S" {
                            let end = cell.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                            return Item::from_bytes(cell[..end].to_vec());
                        }
                        let mut text = String::with_capacity(cell.len() / 4);
                        for unit in cell.chunks_exact(4) {
                            let unit: [u8; 4] = unit.try_into().expect("four bytes");
                            let code = if native {
                                u32::from_le_bytes(unit)
                            } else {
                                u32::from_be_bytes(unit)
                            };
                            if code == 0 {
                                break;
                            }
                            match char::from_u32(code) {
                                Some(c) => text.push(c),
                                None => return Item::NotText("not valid Unicode"),
                            }
                        }
                        Item::Name(Cow::Owned(text))
                    })
                    .collect(),
            ))
        }
        other => Err(PyTypeError::new_err(format!(
            "a NumPy array of dtype kind {other:?} holds no names: pass strings ('U', 'S') or \
             objects ('O')"
        ))),
    }
}
