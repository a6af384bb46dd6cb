//! A gRPC client that speaks raw bytes on the Session stream, to send what
//! a well-behaved agent never would.

use std::path::Path;

use anyhow::Result;
use bytes::{Buf, BufMut};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Passes bytes through unchanged.
#[derive(Debug, Default, Clone)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let length = src.remaining();
        Ok(Some(src.copy_to_bytes(length).to_vec()))
    }
}

/// A TLS channel to `url` trusting `ca_pem`, optionally with a client identity.
pub async fn channel(url: &str, ca_pem: &str, identity: Option<(&str, &str)>) -> Result<Channel> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("127.0.0.1");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Ok(Endpoint::from_shared(url.to_string())?
        .tls_config(tls)?
        .connect()
        .await?)
}

/// A channel using an enrolled agent's credentials from its state directory.
pub async fn agent_channel(url: &str, state_dir: &Path) -> Result<Channel> {
    let read = |name: &str| std::fs::read_to_string(state_dir.join(name));
    channel(
        url,
        &read("ca.pem")?,
        Some((&read("cert.pem")?, &read("key.pem")?)),
    )
    .await
}

/// Opens a Session sending `frames` (raw message bytes); returns the
/// replies up to the end of the stream, or the terminating status.
pub async fn session(
    channel: Channel,
    frames: Vec<Vec<u8>>,
) -> std::result::Result<Vec<Vec<u8>>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel)
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    grpc.ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let path = http::uri::PathAndQuery::from_static("/rollcall.v1.Rollcall/Session");
    // Keep the request stream open a moment so the collector answers before we hang up.
    let stream = async_stream(frames);
    let response = grpc
        .streaming(tonic::Request::new(stream), path, RawCodec)
        .await?;
    let mut inbound = response.into_inner();
    let mut replies = Vec::new();
    loop {
        match tokio::time::timeout(std::time::Duration::from_secs(10), inbound.message()).await {
            Ok(Ok(Some(reply))) => replies.push(reply),
            Ok(Ok(None)) => return Ok(replies),
            Ok(Err(status)) => return Err(status),
            Err(_) => return Ok(replies),
        }
    }
}

/// The collector's `Refused` replies among `replies`: (seq, reason).
pub fn refusals(replies: &[Vec<u8>]) -> Vec<(u64, String)> {
    use prost::Message;
    use rollcall_proto::v1::CollectorMessage;
    use rollcall_proto::v1::collector_message::Body;
    replies
        .iter()
        .filter_map(|bytes| CollectorMessage::decode(bytes.as_slice()).ok())
        .filter_map(|message| match message.body {
            Some(Body::Refused(refused)) => Some((refused.seq, refused.reason)),
            _ => None,
        })
        .collect()
}

fn async_stream(
    frames: Vec<Vec<u8>>,
) -> impl tokio_stream::Stream<Item = Vec<u8>> + Send + 'static {
    use tokio_stream::StreamExt;
    tokio_stream::iter(frames).chain(tokio_stream::pending())
}

/// One agent message at `seq`, encoded.
pub fn frame(seq: u64, body: rollcall_proto::v1::agent_message::Body) -> Vec<u8> {
    use prost::Message;
    rollcall_proto::v1::AgentMessage {
        seq,
        sent_at_ms: rollcall_proto::now_ms(),
        body: Some(body),
    }
    .encode_to_vec()
}

/// A raw session with `agent`'s credentials: a Hello naming the host
/// `hostname` (machine id `<hostname>-machine`), then `body` at `seq`;
/// fails unless the collector acknowledges it.
pub async fn send_acked(
    grpc_url: &str,
    agent: &crate::Agent,
    hostname: &str,
    seq: u64,
    body: rollcall_proto::v1::agent_message::Body,
) -> Result<()> {
    use prost::Message;
    use rollcall_proto::v1::agent_message::Body;
    use rollcall_proto::v1::collector_message::Body as Reply;
    let hello = Body::Hello(Box::new(rollcall_proto::v1::Hello {
        agent_id: agent.agent_id()?,
        identity: Some(rollcall_proto::v1::Identity {
            hostname: hostname.into(),
            machine_id: format!("{hostname}-machine"),
            ..Default::default()
        }),
        ..Default::default()
    }));
    let channel = agent_channel(grpc_url, &agent.state_dir).await?;
    let replies = session(channel, vec![frame(0, hello), frame(seq, body)]).await?;
    let acked = replies
        .iter()
        .filter_map(|bytes| rollcall_proto::v1::CollectorMessage::decode(bytes.as_slice()).ok())
        .any(|message| matches!(message.body, Some(Reply::Ack(ack)) if ack.seq >= seq));
    anyhow::ensure!(acked, "message {seq} was not acknowledged");
    Ok(())
}
