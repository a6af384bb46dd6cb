//! The `Session` request stream decoded by the collector itself: gRPC's
//! length-prefixed messages (a 1-byte compressed flag, a 4-byte big-endian
//! length, the protobuf bytes, gzipped when the flag is set) read from the
//! HTTP/2 request body.
//!
//! tonic's `Streaming` keeps its receive buffer, and its decompression
//! buffer, at the size of the largest message the stream has carried, for
//! the stream's life: a session that began with a 50–200 KiB full snapshot
//! kept that much allocated while it sent 40-byte heartbeats for days. This
//! decoder gives a buffer back once a message larger than [`KEEP_BYTES`] has
//! been taken out of it, and inflates into a buffer of the message's own,
//! so what a session holds between messages is what is still unread.
//! Everything else is as tonic does it: the same size limit (checked on the
//! announced length before any of it is read, and on the inflated size while
//! inflating), the same refusals of a bad flag or a truncated stream.

use std::io::Read;
use std::pin::Pin;

use bytes::{Buf, BytesMut};
use http_body::Body as HttpBody;
use prost::Message;
use rollcall_proto::v1::AgentMessage;
use tonic::Status;

use super::session::SessionError;

/// Bytes of a gRPC message's prefix: compressed flag and length.
const PREFIX_BYTES: usize = 5;

/// A receive buffer whose capacity grew past this for a large message is
/// replaced by a new one of [`INITIAL_BYTES`] once that message is out.
pub const KEEP_BYTES: usize = 8 * 1024;

/// Capacity a session's receive buffer starts with, and returns to.
pub const INITIAL_BYTES: usize = 1024;

/// The decoded messages of one `Session` request body.
pub struct SessionFrames<B> {
    body: B,
    buffer: BytesMut,
    max_message_bytes: usize,
    gzip: bool,
    ended: bool,
}

impl<B> SessionFrames<B>
where
    B: HttpBody<Data = bytes::Bytes, Error = Status> + Unpin,
{
    /// Messages of `body`, each at most `max_message_bytes` (inflated); a
    /// set compressed flag is gzip when the request said so (`gzip`), and
    /// refused otherwise.
    pub fn new(body: B, max_message_bytes: usize, gzip: bool) -> Self {
        Self {
            body,
            buffer: BytesMut::with_capacity(INITIAL_BYTES),
            max_message_bytes,
            gzip,
            ended: false,
        }
    }

    /// Capacity of the receive buffer now (for tests and the memory notes).
    pub fn buffer_capacity(&self) -> usize {
        self.buffer.capacity()
    }

    /// The next message, `None` at a clean end of the stream.
    pub async fn next(&mut self) -> Result<Option<AgentMessage>, SessionError> {
        loop {
            if let Some(message) = self.take_message()? {
                return Ok(Some(message));
            }
            if self.ended {
                return if self.buffer.is_empty() {
                    Ok(None)
                } else {
                    Err(SessionError::Malformed(format!(
                        "the stream ended inside a message ({} bytes of it received)",
                        self.buffer.len()
                    )))
                };
            }
            match std::future::poll_fn(|context| Pin::new(&mut self.body).poll_frame(context)).await
            {
                None => self.ended = true,
                Some(Ok(frame)) => {
                    // Trailers carry nothing an agent needs to send.
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(status)) => return Err(inbound_error(status)),
            }
        }
    }

    /// A whole message from the front of the buffer, if one is there.
    fn take_message(&mut self) -> Result<Option<AgentMessage>, SessionError> {
        if self.buffer.len() < PREFIX_BYTES {
            return Ok(None);
        }
        let compressed = match self.buffer[0] {
            0 => false,
            1 if self.gzip => true,
            1 => {
                return Err(SessionError::Malformed(
                    "a message is flagged compressed but the request named no grpc-encoding"
                        .to_string(),
                ));
            }
            flag => {
                return Err(SessionError::Malformed(format!(
                    "a message's compressed flag is {flag}; gRPC allows 0 or 1"
                )));
            }
        };
        let length = u32::from_be_bytes([
            self.buffer[1],
            self.buffer[2],
            self.buffer[3],
            self.buffer[4],
        ]) as usize;
        if length > self.max_message_bytes {
            return Err(SessionError::TooLarge(format!(
                "a message of {length} bytes is over the collector's limit of {} bytes",
                self.max_message_bytes
            )));
        }
        let Some(total) = PREFIX_BYTES.checked_add(length) else {
            return Err(SessionError::TooLarge(format!(
                "a message of {length} bytes"
            )));
        };
        if self.buffer.len() < total {
            return Ok(None);
        }
        let payload = &self.buffer[PREFIX_BYTES..total];
        let message = if compressed {
            let inflated = inflate(payload, self.max_message_bytes)?;
            AgentMessage::decode(inflated.as_slice())
        } else {
            AgentMessage::decode(payload)
        }
        .map_err(|error| SessionError::Malformed(format!("a message does not decode: {error}")))?;
        self.buffer.advance(total);
        if total > KEEP_BYTES || self.buffer.capacity() > KEEP_BYTES {
            // The buffer grew for this message (its allocation is at least
            // `total`, whatever `capacity()`, the unused tail, says): what is
            // already here of the next message moves to a new, small buffer
            // and the large one is freed.
            let mut small = BytesMut::with_capacity(INITIAL_BYTES.max(self.buffer.len()));
            small.extend_from_slice(&self.buffer);
            self.buffer = small;
        }
        Ok(Some(message))
    }
}

/// What a failed read of the request stream means for the session.
fn inbound_error(status: Status) -> SessionError {
    let message = status.message().to_string();
    match status.code() {
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted => SessionError::TooLarge(message),
        // tonic gives a body error that carries no HTTP/2 reason (the
        // connection failed or closed under the stream: a killed agent, a
        // reset, a lost route) as Unknown, "h2 protocol error: error reading
        // a body from connection". What the agent sent is judged by this
        // decoder, not by the body, so that is the agent gone, not a
        // malformed message (it logged a warning and counted a rejection).
        tonic::Code::Cancelled | tonic::Code::Unknown => SessionError::Gone(message),
        tonic::Code::Unavailable => SessionError::Unavailable(message),
        _ => SessionError::Malformed(message),
    }
}

/// `compressed` gunzipped, refused once it passes `max` bytes.
fn inflate(compressed: &[u8], max: usize) -> Result<Vec<u8>, SessionError> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    // A gzipped protobuf message inflates about four times; the vector grows
    // past that guess only when the message does.
    let mut inflated = Vec::with_capacity(compressed.len().saturating_mul(4).min(max));
    flate2::read::GzDecoder::new(compressed)
        .take(limit)
        .read_to_end(&mut inflated)
        .map_err(|error| SessionError::Malformed(format!("a message does not gunzip: {error}")))?;
    if inflated.len() > max {
        return Err(SessionError::TooLarge(format!(
            "a message inflates past the collector's limit of {max} bytes"
        )));
    }
    Ok(inflated)
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::io::Write;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http_body::Frame;
    use rollcall_proto::v1::agent_message::Body;
    use rollcall_proto::v1::{Heartbeat, Inventory, InventorySnapshot, Package};

    use super::*;

    /// A request body that hands out the given chunks, then maybe an error.
    struct Chunks {
        chunks: VecDeque<Bytes>,
        error: Option<Status>,
    }

    impl HttpBody for Chunks {
        type Data = Bytes;
        type Error = Status;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _context: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
            Poll::Ready(match self.chunks.pop_front() {
                Some(chunk) => Some(Ok(Frame::data(chunk))),
                None => self.error.take().map(Err),
            })
        }
    }

    fn frames(chunks: Vec<Vec<u8>>, max: usize, gzip: bool) -> SessionFrames<Chunks> {
        let body = Chunks {
            chunks: chunks.into_iter().map(Bytes::from).collect(),
            error: None,
        };
        SessionFrames::new(body, max, gzip)
    }

    fn heartbeat(seq: u64) -> AgentMessage {
        AgentMessage {
            seq,
            body: Some(Body::Heartbeat(Heartbeat::default())),
            ..AgentMessage::default()
        }
    }

    fn snapshot(seq: u64, packages: usize) -> AgentMessage {
        let packages = (0..packages)
            .map(|index| Package {
                name: format!("package-{index}"),
                version: format!("1.{index}-1"),
                ..Package::default()
            })
            .collect();
        AgentMessage {
            seq,
            body: Some(Body::Snapshot(Box::new(InventorySnapshot {
                inventory: Some(Inventory {
                    packages,
                    ..Inventory::default()
                }),
            }))),
            ..AgentMessage::default()
        }
    }

    fn framed(message: &AgentMessage, gzip: bool) -> Vec<u8> {
        let mut payload = message.encode_to_vec();
        if gzip {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(&payload).unwrap();
            payload = encoder.finish().unwrap();
        }
        let mut frame = vec![u8::from(gzip)];
        frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        frame.extend_from_slice(&payload);
        frame
    }

    #[tokio::test]
    async fn messages_split_across_chunks_and_sharing_chunks_decode_in_order() {
        let big = snapshot(2, 400);
        let mut wire = framed(&heartbeat(1), false);
        wire.extend(framed(&big, false));
        wire.extend(framed(&heartbeat(3), false));
        // Chunks of 7 bytes: every prefix and message is cut somewhere.
        let chunks = wire.chunks(7).map(<[u8]>::to_vec).collect();
        let mut stream = frames(chunks, 1 << 20, false);
        assert_eq!(stream.next().await.unwrap(), Some(heartbeat(1)));
        assert_eq!(stream.next().await.unwrap(), Some(big));
        assert_eq!(stream.next().await.unwrap(), Some(heartbeat(3)));
        assert_eq!(stream.next().await.unwrap(), None);

        // And all three in one chunk.
        let mut stream = frames(vec![wire], 1 << 20, false);
        for seq in [1, 2, 3] {
            assert_eq!(stream.next().await.unwrap().unwrap().seq, seq);
        }
        assert_eq!(stream.next().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_large_message_leaves_no_large_buffer_behind() {
        let big = snapshot(1, 2_000);
        let big_frame = framed(&big, false);
        assert!(big_frame.len() > 40 * 1024, "{}", big_frame.len());
        let chunks = big_frame
            .chunks(16 * 1024)
            .map(<[u8]>::to_vec)
            .chain([framed(&heartbeat(2), false)])
            .collect();
        let mut stream = frames(chunks, 1 << 20, false);
        assert_eq!(stream.next().await.unwrap(), Some(big));
        // A new buffer of the initial size (the old one's unused tail could
        // be small while its allocation is not, so `<=` would not tell).
        assert_eq!(
            stream.buffer_capacity(),
            INITIAL_BYTES,
            "after a {} byte message",
            big_frame.len()
        );
        assert_eq!(stream.next().await.unwrap(), Some(heartbeat(2)));
        assert!(stream.buffer_capacity() <= INITIAL_BYTES);

        // Many small messages in one large chunk: the buffer that held them
        // is given back too once they are read.
        let wire: Vec<u8> = (0..2_000)
            .flat_map(|seq| framed(&heartbeat(seq), false))
            .collect();
        assert!(wire.len() > KEEP_BYTES);
        let mut stream = frames(vec![wire], 1 << 20, false);
        for seq in 0..2_000 {
            assert_eq!(stream.next().await.unwrap().unwrap().seq, seq);
        }
        assert!(stream.buffer_capacity() <= KEEP_BYTES);
    }

    #[tokio::test]
    async fn gzipped_messages_inflate_and_their_size_is_bounded_inflated() {
        let big = snapshot(1, 500);
        let inflated_len = big.encoded_len();
        let mut stream = frames(vec![framed(&big, true)], inflated_len, true);
        assert_eq!(stream.next().await.unwrap(), Some(big.clone()));

        // The same message with a limit one byte under its inflated size: the
        // compressed bytes are well under the limit, the inflated are not.
        let mut stream = frames(vec![framed(&big, true)], inflated_len - 1, true);
        match stream.next().await {
            Err(SessionError::TooLarge(message)) => {
                assert!(message.contains("inflates"), "{message}")
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }

        // Compressed without a grpc-encoding on the request.
        let mut stream = frames(vec![framed(&big, true)], 1 << 20, false);
        assert!(matches!(
            stream.next().await,
            Err(SessionError::Malformed(_))
        ));
    }

    #[tokio::test]
    async fn an_announced_length_over_the_limit_is_refused_before_its_bytes_arrive() {
        let mut prefix = vec![0];
        prefix.extend_from_slice(&u32::MAX.to_be_bytes());
        let mut stream = frames(vec![prefix], 4 * 1024 * 1024, false);
        match stream.next().await {
            Err(SessionError::TooLarge(message)) => {
                assert!(message.contains("4294967295"), "{message}")
            }
            other => panic!("expected TooLarge, got {other:?}"),
        }
        assert!(stream.buffer_capacity() <= KEEP_BYTES);
    }

    #[tokio::test]
    async fn bad_flags_garbage_and_truncation_are_malformed() {
        let mut flagged = framed(&heartbeat(1), false);
        flagged[0] = 2;
        let mut garbage = vec![0, 0, 0, 0, 3];
        garbage.extend_from_slice(&[0xff, 0xff, 0xff]);
        let mut not_gzip = vec![1, 0, 0, 0, 3];
        not_gzip.extend_from_slice(b"abc");
        let whole = framed(&heartbeat(1), false);
        let truncated = whole[..whole.len() - 1].to_vec();
        for (name, wire, gzip) in [
            ("flag 2", flagged, false),
            ("not protobuf", garbage, false),
            ("not gzip", not_gzip, true),
            ("truncated", truncated, false),
            ("prefix only", vec![0, 0], false),
        ] {
            let mut stream = frames(vec![wire], 1 << 20, gzip);
            assert!(
                matches!(stream.next().await, Err(SessionError::Malformed(_))),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn a_body_error_ends_the_stream_with_its_meaning() {
        let body = Chunks {
            chunks: VecDeque::from([Bytes::from(framed(&heartbeat(1), false))]),
            error: Some(Status::cancelled("h2 stream reset")),
        };
        let mut stream = SessionFrames::new(body, 1 << 20, false);
        assert_eq!(stream.next().await.unwrap(), Some(heartbeat(1)));
        assert!(matches!(stream.next().await, Err(SessionError::Gone(_))));
    }

    #[tokio::test]
    async fn a_connection_lost_under_the_stream_is_the_agent_gone_not_a_malformed_message() {
        for (status, gone) in [
            (
                Status::unknown("h2 protocol error: error reading a body from connection"),
                true,
            ),
            (
                Status::internal("h2 protocol error: frame with invalid size"),
                false,
            ),
        ] {
            let body = Chunks {
                chunks: VecDeque::new(),
                error: Some(status),
            };
            let ended = SessionFrames::new(body, 1 << 20, false).next().await;
            match ended {
                Err(SessionError::Gone(_)) => assert!(gone),
                Err(SessionError::Malformed(_)) => assert!(!gone),
                other => panic!("unexpected end {other:?}"),
            }
        }
    }
}
