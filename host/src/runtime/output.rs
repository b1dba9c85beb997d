//! Capture of a plugin's stdout and stderr: bounded, never failing the plugin.
//!
//! wasmtime-wasi's `MemoryOutputPipe` traps the guest once its capacity is reached, which
//! would turn a chatty plugin into a failed decision. Here excess output is dropped and
//! the report says it was truncated.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// A stdout/stderr sink that keeps the first `capacity` bytes.
#[derive(Clone)]
pub struct CapturedOutput {
    inner: Arc<Mutex<Captured>>,
}

struct Captured {
    capacity: usize,
    bytes: Vec<u8>,
    dropped: usize,
}

impl CapturedOutput {
    /// A sink keeping at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        CapturedOutput { inner: Arc::new(Mutex::new(Captured { capacity, bytes: Vec::new(), dropped: 0 })) }
    }

    fn append(&self, data: &[u8]) {
        let mut captured = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let room = captured.capacity - captured.bytes.len();
        let kept = data.len().min(room);
        captured.bytes.extend_from_slice(&data[..kept]);
        captured.dropped += data.len() - kept;
    }

    /// What was captured, as text, with a note when output was dropped.
    pub fn text(&self) -> String {
        let captured = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut text = super::sandbox::printable(&String::from_utf8_lossy(&captured.bytes));
        if captured.dropped > 0 {
            text.push_str(&format!("\n[… {} more bytes dropped]", captured.dropped));
        }
        text
    }
}

impl IsTerminal for CapturedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturedOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.append(&bytes);
        Ok(())
    }
    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }
    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CapturedOutput {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
