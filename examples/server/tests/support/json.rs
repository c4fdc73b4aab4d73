//! A JSON client for the channels protocol on `/ws`.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{self, Message};

use super::{Server, Ws, DEADLINE};

/// `POST /broadcast` with `body`; asserts 200 and returns the JSON answer.
pub async fn post(server: &Server, body: Value) -> Value {
    let response = server
        .http("POST", "/broadcast", body.to_string().as_bytes())
        .await;
    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    response.json()
}

pub struct Client {
    pub ws: Ws,
}

impl Client {
    pub async fn connect(server: &Server, query: &str) -> Self {
        Self::connect_with(server, query, &[]).await
    }

    pub async fn connect_with(server: &Server, query: &str, headers: &[(&str, &str)]) -> Self {
        let mut request = server
            .url(&format!("/ws{query}"))
            .into_client_request()
            .expect("request");
        for (name, value) in headers {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("header name");
            request
                .headers_mut()
                .insert(name, HeaderValue::from_str(value).expect("header"));
        }
        let (ws, _) = timeout(DEADLINE, tokio_tungstenite::connect_async(request))
            .await
            .expect("connect timed out")
            .expect("connect");
        Self { ws }
    }

    pub async fn send(&mut self, value: Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// Next JSON frame, including pings.
    pub async fn recv_any(&mut self) -> Value {
        loop {
            let message = timeout(DEADLINE, self.ws.next())
                .await
                .expect("timed out waiting for a frame")
                .expect("stream ended")
                .expect("websocket error");
            match message {
                Message::Text(text) => return serde_json::from_str(&text).expect("JSON frame"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a JSON frame, got {other:?}"),
            }
        }
    }

    /// Next JSON frame that is not a heartbeat `ping`.
    pub async fn recv(&mut self) -> Value {
        loop {
            let value = self.recv_any().await;
            if value["type"] != "ping" {
                return value;
            }
        }
    }

    /// Sends a request with a `messageId` and expects its ack.
    pub async fn request(&mut self, mut request: Value, message_id: &str) -> Value {
        request["messageId"] = json!(message_id);
        self.send(request).await;
        let reply = self.recv().await;
        assert_eq!(reply["type"], "ack", "reply to {message_id}: {reply}");
        assert_eq!(reply["messageId"], message_id, "{reply}");
        reply
    }

    pub async fn subscribe(&mut self, channel: &str) {
        let id = format!("sub-{channel}");
        self.request(json!({ "type": "subscribe", "channel": channel }), &id)
            .await;
    }

    /// Next `message` frame; fails on anything else but pings.
    pub async fn message(&mut self) -> Value {
        let value = self.recv().await;
        assert_eq!(value["type"], "message", "{value}");
        value
    }

    /// Expects the server's Close frame and returns its code.
    pub async fn close_code(&mut self) -> u16 {
        loop {
            let message = timeout(DEADLINE, self.ws.next())
                .await
                .expect("timed out waiting for Close")
                .expect("stream ended before Close")
                .expect("websocket error");
            match message {
                Message::Close(frame) => return frame.map_or(1005, |f| u16::from(f.code)),
                Message::Text(_) | Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected Close, got {other:?}"),
            }
        }
    }

    /// Reads until the stream ends (a Close frame may come first).
    pub async fn expect_end(&mut self) {
        loop {
            match timeout(DEADLINE, self.ws.next())
                .await
                .expect("timed out waiting for the end")
            {
                None | Some(Err(tungstenite::Error::ConnectionClosed)) => return,
                Some(Err(tungstenite::Error::Protocol(_) | tungstenite::Error::Io(_))) => return,
                Some(Ok(_)) => continue,
                Some(Err(err)) => panic!("unexpected error before end: {err}"),
            }
        }
    }
}

/// `data` of the messages in `frames`.
pub fn data_of(frames: &[Value]) -> Vec<Value> {
    frames.iter().map(|f| f["data"].clone()).collect()
}
