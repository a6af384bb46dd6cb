//! The gRPC codec of `rollcall.v1`: tonic's prost codec with small buffers.
//!
//! tonic allocates its default 8 KiB encode and 8 KiB decode buffer for
//! every stream up front and keeps them for the stream's life. A collector
//! holds one long-lived stream per agent whose messages are mostly tens of
//! bytes (heartbeats, acks), so those 16 KiB were about a quarter of the
//! collector's memory per session. With [`BUFFER_SIZE`] the buffers start
//! small and grow (to a message's size) only when a large message passes.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::ProstCodec;

/// Initial size of a stream's encode and decode buffers, in bytes.
pub const BUFFER_SIZE: usize = 1024;

/// Encoded bytes gathered before they are handed to HTTP/2 (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

/// [`ProstCodec`] with [`BUFFER_SIZE`] buffers; the generated client and
/// server use it (`codec_path` in build.rs).
#[derive(Debug, Clone)]
pub struct SmallBufferCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for SmallBufferCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

fn settings() -> BufferSettings {
    BufferSettings::new(BUFFER_SIZE, YIELD_THRESHOLD)
}

impl<T, U> Codec for SmallBufferCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = <ProstCodec<T, U> as Codec>::Encoder;
    type Decoder = <ProstCodec<T, U> as Codec>::Decoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(settings())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(settings())
    }
}
