//! The CUDA C sources in `kernels/`, compiled at run time with NVRTC into a CUBIN for the
//! device's own architecture (`sm_XY`): a CUBIN needs no PTX JIT in the driver, so an NVRTC
//! newer than the driver still gives a module the driver loads.

use cudarc::nvrtc::{result, sys};
use std::ffi::{CStr, CString};

/// Prepended to every file: shared device helpers.
const COMMON: &str = include_str!("../../../kernels/common.cuh");

/// One file per op family, in the order they are concatenated.
pub const SOURCES: [(&str, &str); 6] = [
    ("matmul.cu", include_str!("../../../kernels/matmul.cu")),
    (
        "embedding.cu",
        include_str!("../../../kernels/embedding.cu"),
    ),
    ("lstm.cu", include_str!("../../../kernels/lstm.cu")),
    ("conv1d.cu", include_str!("../../../kernels/conv1d.cu")),
    ("loss.cu", include_str!("../../../kernels/loss.cu")),
    ("optim.cu", include_str!("../../../kernels/optim.cu")),
];

/// Every kernel the backend loads, by name.
pub const KERNELS: [&str; 18] = [
    "matmul",
    "add_bias_rows",
    "column_sums",
    "transpose",
    "gather_rows",
    "scatter_rows_by_index",
    "lstm_forward",
    "lstm_backward",
    "conv_relu_max_forward",
    "conv_weight_grads",
    "conv_input_grads",
    "sigmoid_bce",
    "softmax_cross_entropy",
    "probabilities",
    "multiply",
    "accumulate_sum",
    "rmsprop_step",
    "adam_step",
];

/// The whole program: the shared helpers, then every file.
pub fn program() -> String {
    let mut text = String::from(COMMON);
    for (name, source) in SOURCES {
        text.push_str(&format!("\n// ---- kernels/{name}\n"));
        text.push_str(source);
    }
    text
}

/// Whether libnvrtc can be loaded (checked before anything touches it: cudarc panics when a
/// library it needs is missing).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to dlopen the library by its usual names.
    unsafe { sys::is_culib_present() }
}

/// NVRTC's version, `(major, minor)`.
pub fn nvrtc_version() -> Option<(i32, i32)> {
    if !nvrtc_present() {
        return None;
    }
    let (mut major, mut minor) = (0, 0);
    // SAFETY: the library is present; the two pointers are valid for writes.
    let status = unsafe { sys::nvrtcVersion(&mut major, &mut minor) };
    (status == sys::nvrtcResult::NVRTC_SUCCESS).then_some((major, minor))
}

/// Compiles the program for compute capability `major.minor` into a CUBIN. Errors carry
/// NVRTC's log.
pub fn compile_cubin((major, minor): (i32, i32)) -> Result<Vec<u8>, String> {
    if !nvrtc_present() {
        return Err("libnvrtc is not installed (or not on the library path)".into());
    }
    let source = CString::new(program()).map_err(|_| "kernel source holds a NUL byte")?;
    let name = CString::new("dga_lite_kernels.cu").expect("no NUL");
    let program = result::create_program(&source, Some(&name))
        .map_err(|e| format!("NVRTC could not create the program: {e:?}"))?;
    let options = [
        format!("--gpu-architecture=sm_{major}{minor}"),
        // f32 throughout, IEEE division and square root: the CPU reference's arithmetic.
        "--fmad=true".to_string(),
        "--prec-div=true".to_string(),
        "--prec-sqrt=true".to_string(),
        "--std=c++14".to_string(),
    ];
    // SAFETY: `program` is a live program handle; it is destroyed once below.
    let compiled = unsafe { result::compile_program(program, &options) };
    let outcome = match compiled {
        Ok(()) => cubin_of(program),
        Err(e) => {
            // SAFETY: as above.
            let log = unsafe { result::get_program_log(program) }
                .map(|raw| {
                    // SAFETY: NVRTC returns a NUL-terminated log.
                    unsafe { CStr::from_ptr(raw.as_ptr()) }
                        .to_string_lossy()
                        .into_owned()
                })
                .unwrap_or_default();
            Err(format!(
                "NVRTC failed to compile the kernels ({e:?}):\n{log}"
            ))
        }
    };
    // SAFETY: destroyed once, after its last use.
    let _ = unsafe { result::destroy_program(program) };
    outcome
}

fn cubin_of(program: sys::nvrtcProgram) -> Result<Vec<u8>, String> {
    let mut size = 0usize;
    // SAFETY: `program` compiled successfully; `size` is valid for a write.
    let status = unsafe { sys::nvrtcGetCUBINSize(program, &mut size) };
    if status != sys::nvrtcResult::NVRTC_SUCCESS || size == 0 {
        return Err(format!("NVRTC gave no CUBIN ({status:?})"));
    }
    let mut cubin = vec![0u8; size];
    // SAFETY: the buffer holds `size` bytes, as NVRTC asked.
    let status = unsafe { sys::nvrtcGetCUBIN(program, cubin.as_mut_ptr() as *mut _) };
    if status != sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(format!("NVRTC could not return the CUBIN ({status:?})"));
    }
    Ok(cubin)
}
