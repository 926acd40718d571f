//! The CUDA backend: a GPU context, our kernels compiled for it, and the two models' training
//! and scoring on the device (`endgame_lstm.rs`, `snowman_cnn.rs`).
//!
//! cudarc loads libcuda and libnvrtc at run time, so nothing here needs a CUDA toolkit to
//! build; `Gpu::open` checks that both libraries and a device are there before touching them
//! and says what is missing otherwise.

pub mod endgame_lstm;
mod head;
pub mod kernels;
pub mod ops;
pub mod params;
mod session;
pub mod snowman_cnn;

pub use session::{endgame_session, scoring_session, snowman_session};

use cudarc::driver::{CudaContext, CudaFunction, CudaSlice, CudaStream, DeviceRepr};
use cudarc::nvrtc::Ptx;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    #[error(
        "no CUDA driver: libcuda could not be loaded (is the NVIDIA driver installed?); run with --backend cpu"
    )]
    NoDriver,
    #[error(
        "no NVRTC: libnvrtc could not be loaded; install the CUDA runtime compiler (for example `pip install nvidia-cuda-nvrtc-cu12` and put its lib folder on LD_LIBRARY_PATH), or run with --backend cpu"
    )]
    NoNvrtc,
    #[error("no CUDA device {wanted} ({found} found); run with --backend cpu")]
    NoDevice { wanted: usize, found: i32 },
    #[error("CUDA driver error: {0}")]
    Driver(String),
    #[error("{0}")]
    Compile(String),
}

impl From<cudarc::driver::DriverError> for CudaError {
    fn from(e: cudarc::driver::DriverError) -> Self {
        CudaError::Driver(format!("{e:?}"))
    }
}

/// A GPU ready to run our kernels.
pub struct Gpu {
    pub ctx: Arc<CudaContext>,
    pub stream: Arc<CudaStream>,
    /// The device's name and compute capability, for reports.
    pub name: String,
    pub capability: (i32, i32),
    functions: HashMap<&'static str, CudaFunction>,
}

/// CUBINs compiled in this process, per compute capability (NVRTC takes about a second).
/// Compiled kernels by compute capability.
type CubinCache = Mutex<HashMap<(i32, i32), Arc<Vec<u8>>>>;

fn cubin_cache() -> &'static CubinCache {
    static CACHE: OnceLock<CubinCache> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn cubin_for(capability: (i32, i32)) -> Result<Arc<Vec<u8>>, CudaError> {
    let mut cache = cubin_cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(cubin) = cache.get(&capability) {
        return Ok(cubin.clone());
    }
    let cubin = Arc::new(kernels::compile_cubin(capability).map_err(CudaError::Compile)?);
    cache.insert(capability, cubin.clone());
    Ok(cubin)
}

/// Whether libcuda can be loaded.
pub fn driver_present() -> bool {
    // SAFETY: only tries to dlopen the library by its usual names.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

impl Gpu {
    /// Opens GPU `ordinal`, compiles (or reuses) the kernels for it and loads them.
    pub fn open(ordinal: usize) -> Result<Gpu, CudaError> {
        if !driver_present() {
            return Err(CudaError::NoDriver);
        }
        if !kernels::nvrtc_present() {
            return Err(CudaError::NoNvrtc);
        }
        let found = CudaContext::device_count()?;
        if ordinal as i64 >= found as i64 {
            return Err(CudaError::NoDevice {
                wanted: ordinal,
                found,
            });
        }
        let ctx = CudaContext::new(ordinal)?;
        // SAFETY: everything runs on the context's one default stream, so cudarc's per-buffer
        // events (for ordering across streams) would only add a driver call to each launch.
        unsafe { ctx.disable_event_tracking() };
        let capability = ctx.compute_capability()?;
        let name = ctx.name()?;
        let cubin = cubin_for(capability)?;
        let module = ctx.load_module(Ptx::from_binary(cubin.as_ref().clone()))?;
        let mut functions = HashMap::new();
        for kernel in kernels::KERNELS {
            functions.insert(kernel, module.load_function(kernel)?);
        }
        let stream = ctx.default_stream();
        Ok(Gpu {
            ctx,
            stream,
            name,
            capability,
            functions,
        })
    }

    pub fn function(&self, name: &str) -> &CudaFunction {
        &self.functions[name]
    }

    pub fn upload<T: DeviceRepr>(&self, host: &[T]) -> Result<CudaSlice<T>, CudaError> {
        Ok(self.stream.clone_htod(host)?)
    }

    /// Copies `host` into the front of an existing device buffer.
    pub fn upload_into<T: DeviceRepr>(
        &self,
        host: &[T],
        dev: &mut CudaSlice<T>,
    ) -> Result<(), CudaError> {
        if host.is_empty() {
            return Ok(());
        }
        let mut front = dev.slice_mut(..host.len());
        Ok(self.stream.memcpy_htod(host, &mut front)?)
    }

    pub fn zeros(&self, len: usize) -> Result<CudaSlice<f32>, CudaError> {
        Ok(self.stream.alloc_zeros::<f32>(len.max(1))?)
    }

    pub fn download<T: DeviceRepr>(&self, dev: &CudaSlice<T>) -> Result<Vec<T>, CudaError> {
        Ok(self.stream.clone_dtoh(dev)?)
    }

    pub fn synchronize(&self) -> Result<(), CudaError> {
        Ok(self.stream.synchronize()?)
    }

    /// "NVIDIA H100 80GB HBM3 (sm_90)".
    pub fn describe(&self) -> String {
        format!(
            "{} (sm_{}{})",
            self.name, self.capability.0, self.capability.1
        )
    }
}
