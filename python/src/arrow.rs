//! Reading string columns through the Arrow C data interface (the Arrow PyCapsule protocol:
//! `__arrow_c_stream__` and `__arrow_c_array__`), so a pyarrow array or chunked array, a
//! polars Series or anything else that speaks it is read without a Python object per name
//! and without an Arrow library. Spec: arrow.apache.org/docs/format/CDataInterface.html.
//!
//! The memory behind these structs belongs to the producer; every array and stream taken
//! here is released exactly once (on drop), and bounds are checked before any read.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;
use std::ffi::{CStr, c_char, c_int, c_void};

#[repr(C)]
pub struct ArrowSchema {
    format: *const c_char,
    name: *const c_char,
    metadata: *const c_char,
    flags: i64,
    n_children: i64,
    children: *mut *mut ArrowSchema,
    dictionary: *mut ArrowSchema,
    release: Option<unsafe extern "C" fn(*mut ArrowSchema)>,
    private_data: *mut c_void,
}

#[repr(C)]
pub struct ArrowArray {
    length: i64,
    null_count: i64,
    offset: i64,
    n_buffers: i64,
    n_children: i64,
    buffers: *mut *const c_void,
    children: *mut *mut ArrowArray,
    dictionary: *mut ArrowArray,
    release: Option<unsafe extern "C" fn(*mut ArrowArray)>,
    private_data: *mut c_void,
}

#[repr(C)]
pub struct ArrowArrayStream {
    get_schema: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowSchema) -> c_int>,
    get_next: Option<unsafe extern "C" fn(*mut ArrowArrayStream, *mut ArrowArray) -> c_int>,
    get_last_error: Option<unsafe extern "C" fn(*mut ArrowArrayStream) -> *const c_char>,
    release: Option<unsafe extern "C" fn(*mut ArrowArrayStream)>,
    private_data: *mut c_void,
}

impl ArrowSchema {
    fn empty() -> ArrowSchema {
        ArrowSchema {
            format: std::ptr::null(),
            name: std::ptr::null(),
            metadata: std::ptr::null(),
            flags: 0,
            n_children: 0,
            children: std::ptr::null_mut(),
            dictionary: std::ptr::null_mut(),
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }
}

impl ArrowArray {
    fn empty() -> ArrowArray {
        ArrowArray {
            length: 0,
            null_count: 0,
            offset: 0,
            n_buffers: 0,
            n_children: 0,
            buffers: std::ptr::null_mut(),
            children: std::ptr::null_mut(),
            dictionary: std::ptr::null_mut(),
            release: None,
            private_data: std::ptr::null_mut(),
        }
    }
}

/// An array or schema we own: released when dropped.
struct Owned<T: Release>(T);

trait Release {
    fn release(&mut self);
}

impl Release for ArrowArray {
    fn release(&mut self) {
        if let Some(release) = self.release {
            // SAFETY: the producer's own release callback, called once on the struct it filled.
            unsafe { release(self) };
        }
    }
}

impl Release for ArrowSchema {
    fn release(&mut self) {
        if let Some(release) = self.release {
            // SAFETY: as above.
            unsafe { release(self) };
        }
    }
}

impl<T: Release> Drop for Owned<T> {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// How a string column lays out its values.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Layout {
    /// `u`: utf8, i32 offsets.
    Utf8,
    /// `U`: large utf8, i64 offsets.
    LargeUtf8,
    /// `vu`: utf8 view (16-byte views, data inline or in variadic buffers).
    Utf8View,
}

fn layout_of(schema: &ArrowSchema) -> PyResult<Layout> {
    if schema.format.is_null() {
        return Err(PyValueError::new_err("Arrow schema without a format"));
    }
    // SAFETY: a non-null format is a NUL-terminated string the producer owns until release.
    let format = unsafe { CStr::from_ptr(schema.format) }.to_string_lossy();
    match format.as_ref() {
        "u" => Ok(Layout::Utf8),
        "U" => Ok(Layout::LargeUtf8),
        "vu" => Ok(Layout::Utf8View),
        other => Err(PyTypeError::new_err(format!(
            "an Arrow column of type {other:?} holds no strings: pass a string column \
             (utf8, large_utf8 or utf8_view; cast dictionary columns to string first)"
        ))),
    }
}

/// One value of a string column: missing (null), or its bytes (UTF-8 is checked later).
pub type Value = Option<Vec<u8>>;

/// Appends the values of `array` (laid out as `layout`) to `out`.
fn read_array(array: &ArrowArray, layout: Layout, out: &mut Vec<Value>) -> PyResult<()> {
    let bad = |why: &str| PyValueError::new_err(format!("malformed Arrow string array: {why}"));
    let (Ok(length), Ok(offset)) = (usize::try_from(array.length), usize::try_from(array.offset))
    else {
        return Err(bad("negative length or offset"));
    };
    // Validity, then offsets and data; or views, data buffers and their sizes.
    if array.n_buffers < 3 {
        return Err(bad("too few buffers"));
    }
    if array.buffers.is_null() {
        return Err(bad("no buffers"));
    }
    let n_buffers = array.n_buffers as usize;
    // SAFETY: the producer gives `n_buffers` buffer pointers.
    let buffers = unsafe { std::slice::from_raw_parts(array.buffers, n_buffers) };
    let validity = buffers[0] as *const u8;
    let is_valid = |i: usize| -> bool {
        if validity.is_null() || array.null_count == 0 {
            return true;
        }
        // SAFETY: a validity bitmap holds at least offset + length bits.
        unsafe { *validity.add(i / 8) & (1 << (i % 8)) != 0 }
    };
    out.reserve(length);
    match layout {
        Layout::Utf8 | Layout::LargeUtf8 => {
            let offsets = buffers[1];
            let data = buffers[2] as *const u8;
            if offsets.is_null() {
                return Err(bad("no offsets buffer"));
            }
            let offset_at = |i: usize| -> i64 {
                // SAFETY: an offsets buffer holds offset + length + 1 entries.
                unsafe {
                    match layout {
                        Layout::Utf8 => *(offsets as *const i32).add(i) as i64,
                        _ => *(offsets as *const i64).add(i),
                    }
                }
            };
            for i in offset..offset + length {
                if !is_valid(i) {
                    out.push(None);
                    continue;
                }
                let (start, end) = (offset_at(i), offset_at(i + 1));
                if start < 0 || end < start {
                    return Err(bad("offsets out of order"));
                }
                if end == start {
                    out.push(Some(Vec::new()));
                    continue;
                }
                if data.is_null() {
                    return Err(bad("no data buffer"));
                }
                // SAFETY: offsets index the data buffer, as the spec requires of producers.
                let bytes = unsafe {
                    std::slice::from_raw_parts(data.add(start as usize), (end - start) as usize)
                };
                out.push(Some(bytes.to_vec()));
            }
        }
        Layout::Utf8View => {
            let views = buffers[1] as *const u8;
            if views.is_null() && length > 0 {
                return Err(bad("no views buffer"));
            }
            // Data buffers sit between the views and the trailing buffer of their sizes.
            let data_buffers = &buffers[2..n_buffers - 1];
            for i in offset..offset + length {
                if !is_valid(i) {
                    out.push(None);
                    continue;
                }
                // SAFETY: the views buffer holds offset + length views of 16 bytes.
                let view = unsafe { std::slice::from_raw_parts(views.add(i * 16), 16) };
                let len = i32::from_le_bytes(view[0..4].try_into().unwrap());
                let Ok(len) = usize::try_from(len) else {
                    return Err(bad("negative view length"));
                };
                if len <= 12 {
                    out.push(Some(view[4..4 + len].to_vec()));
                    continue;
                }
                let index = i32::from_le_bytes(view[8..12].try_into().unwrap());
                let start = i32::from_le_bytes(view[12..16].try_into().unwrap());
                let (Ok(index), Ok(start)) = (usize::try_from(index), usize::try_from(start))
                else {
                    return Err(bad("negative view buffer index or offset"));
                };
                let Some(&data) = data_buffers.get(index) else {
                    return Err(bad("view points past the data buffers"));
                };
                if data.is_null() {
                    return Err(bad("null data buffer"));
                }
                // SAFETY: a view's buffer index and offset lie within that data buffer.
                let bytes =
                    unsafe { std::slice::from_raw_parts((data as *const u8).add(start), len) };
                out.push(Some(bytes.to_vec()));
            }
        }
    }
    Ok(())
}

/// Takes the struct a PyCapsule named `name` points to, leaving a released (moved-from)
/// struct behind, as the PyCapsule protocol asks of a consumer.
fn take_from_capsule<T>(capsule: &Bound<'_, PyCapsule>, name: &CStr, moved: T) -> PyResult<T> {
    let pointer = capsule
        .pointer_checked(Some(name))
        .map_err(|_| PyTypeError::new_err(format!("expected an Arrow capsule named {name:?}")))?;
    let pointer = pointer.as_ptr() as *mut T;
    // SAFETY: the capsule holds a valid struct of this type; swapping in one whose release is
    // null marks it moved, so the capsule's destructor does not release it a second time.
    Ok(unsafe { std::ptr::replace(pointer, moved) })
}

/// The values of an object that exports `__arrow_c_stream__`.
pub fn read_stream(object: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
    let capsule = object.call_method0("__arrow_c_stream__")?;
    let capsule = capsule.cast::<PyCapsule>()?;
    let mut stream = take_from_capsule(
        capsule,
        c"arrow_array_stream",
        ArrowArrayStream {
            get_schema: None,
            get_next: None,
            get_last_error: None,
            release: None,
            private_data: std::ptr::null_mut(),
        },
    )?;
    let result = read_stream_values(&mut stream);
    if let Some(release) = stream.release {
        // SAFETY: we took the stream out of the capsule, so releasing it is ours to do, once.
        unsafe { release(&mut stream) };
    }
    result
}

fn stream_error(stream: &mut ArrowArrayStream, code: c_int) -> PyErr {
    let detail = stream
        .get_last_error
        // SAFETY: the producer's callback; a non-null result is a NUL-terminated message.
        .map(|f| unsafe { f(stream) })
        .filter(|p| !p.is_null())
        .map(|p| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        .unwrap_or_default();
    PyValueError::new_err(format!(
        "reading the Arrow stream failed (code {code}): {detail}"
    ))
}

fn read_stream_values(stream: &mut ArrowArrayStream) -> PyResult<Vec<Value>> {
    let (Some(get_schema), Some(get_next)) = (stream.get_schema, stream.get_next) else {
        return Err(PyValueError::new_err("an Arrow stream without callbacks"));
    };
    let mut schema = Owned(ArrowSchema::empty());
    // SAFETY: the producer fills `schema`; we release it (Owned) when done.
    let code = unsafe { get_schema(stream, &mut schema.0) };
    if code != 0 {
        return Err(stream_error(stream, code));
    }
    let layout = layout_of(&schema.0)?;
    let mut values = Vec::new();
    loop {
        let mut array = Owned(ArrowArray::empty());
        // SAFETY: as above; an array whose release is null marks the end of the stream.
        let code = unsafe { get_next(stream, &mut array.0) };
        if code != 0 {
            return Err(stream_error(stream, code));
        }
        if array.0.release.is_none() {
            return Ok(values);
        }
        read_array(&array.0, layout, &mut values)?;
    }
}

/// The values of an object that exports `__arrow_c_array__` (one array).
pub fn read_array_object(object: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
    let pair = object.call_method0("__arrow_c_array__")?;
    let (schema, array): (Bound<'_, PyCapsule>, Bound<'_, PyCapsule>) = pair.extract()?;
    let schema = Owned(take_from_capsule(
        &schema,
        c"arrow_schema",
        ArrowSchema::empty(),
    )?);
    let array = Owned(take_from_capsule(
        &array,
        c"arrow_array",
        ArrowArray::empty(),
    )?);
    let layout = layout_of(&schema.0)?;
    let mut values = Vec::new();
    read_array(&array.0, layout, &mut values)?;
    Ok(values)
}
