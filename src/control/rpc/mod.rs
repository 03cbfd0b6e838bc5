//! porla's JSON-RPC (`POST /api/v1/jsonrpc`), byte for byte as porla's `jsonrpchandler.cpp` and `src/methods/method.hpp` answer:
//!
//! - every object serialised with keys sorted bytewise, no whitespace
//!   (`serde_json::Value` keeps keys in a `BTreeMap`);
//! - success `{"id":…,"jsonrpc":"2.0","result":…}`; a method's error
//!   `{"error":{"code":…,"data":…,"message":…},"id":…,"jsonrpc":"2.0"}`;
//! - parse error (-32700), unknown method (-32601) and internal error
//!   (-32603: missing `params`, a missing key, a wrong type) in porla's
//!   non-2.0 shapes, without `id` and `jsonrpc`;
//! - a request without `id` is answered with `"id":null`; `params` is
//!   required, even `{}`; `jsonrpc` is not checked;
//! - HTTP 200 for every JSON-RPC outcome; 401 `Unauthorized` without a
//!   valid token.
//!
//! Where porla crashes or has no answer we answer instead (choices written
//! down in docs/control.md): a body that is not an object, or an object
//! without a string `method`, gets `{"error":{"code":-32600,"data":…,
//! "message":"Invalid Request"}}`. Every refusal is counted in
//! `ringseed_rpc_errors_total{kind}`.
//!
//! This file is the server and the envelope; the methods translate porla's
//! shapes onto the control API (`super::api::Api`):
//!
//! - `dispatch`: the method table;
//! - `params`: reading and checking `params` (porla's exceptions, info hashes);
//! - `torrents`: the torrent answers (list, files, properties, trackers);
//! - `peers`: the peer answers (`torrents.peers.list`, `ringseed.getpeerinfo`);
//! - [`auth`]: the token.

pub mod auth;
mod dispatch;
mod params;
mod peers;
mod torrents;

use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::api::{Api, ApiError};
use super::http::{text, HttpRequest};
use crate::messages::CommandError;
use ringseed_proto::metainfo::MetainfoError;

/// The JSON-RPC path.
pub const PATH: &str = "/api/v1/jsonrpc";

/// porla's single session name.
const SESSION: &str = "default";

/// What the RPC handlers reach.
pub struct Rpc {
    /// The session, its view and the trackers' state.
    pub(crate) api: Arc<Api>,
    /// The token check; `None`: no authentication.
    pub auth: Option<auth::Auth>,
}

/// A method's failure.
#[derive(Debug)]
pub(crate) enum MethodError {
    /// A porla method error: the JSON-RPC 2.0 error envelope.
    Rpc {
        code: i64,
        message: String,
        data: Value,
    },
    /// An exception inside a method (missing key, wrong type): -32603 with
    /// the exception text, porla's non-2.0 shape.
    Internal(String),
}

impl MethodError {
    pub(crate) fn rpc(code: i64, message: impl Into<String>) -> Self {
        MethodError::Rpc {
            code,
            message: message.into(),
            data: Value::Null,
        }
    }
    pub(crate) fn with_data(code: i64, message: impl Into<String>, data: impl Into<Value>) -> Self {
        MethodError::Rpc {
            code,
            message: message.into(),
            data: data.into(),
        }
    }
    /// porla's -1 for an unknown torrent.
    pub(crate) fn not_found() -> Self {
        Self::rpc(-1, "Torrent not found in any session")
    }
}

/// The porla error of a failed operation.
impl From<ApiError> for MethodError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Command(CommandError::NotFound) => MethodError::not_found(),
            ApiError::Command(CommandError::Duplicate) => {
                MethodError::rpc(-3, format!("Torrent already in session '{SESSION}'"))
            }
            ApiError::Command(CommandError::Store(e)) => {
                MethodError::with_data(-5, "Failed to add torrent to session", e.message)
            }
            ApiError::InvalidTorrent(
                e @ (MetainfoError::NotBencode(_) | MetainfoError::Truncated(_)),
            ) => MethodError::with_data(-1, "Failed to bdecode 'ti' parameter", e.to_string()),
            ApiError::InvalidTorrent(e) => MethodError::with_data(
                -2,
                "Failed to parse torrent_info from bdecoded data",
                e.to_string(),
            ),
            ApiError::NoSavePath => MethodError::rpc(-4, "'save_path' missing"),
            // The daemon is stopping; a listener (no RPC method binds one);
            // categories and tags (no porla method sets them).
            e @ (ApiError::Stopping
            | ApiError::Listen(_)
            | ApiError::Move(_)
            | ApiError::Command(
                CommandError::UnknownCategory
                | CommandError::CategoryExists
                | CommandError::InvalidName(_),
            )) => MethodError::Internal(e.to_string()),
        }
    }
}

fn count_error(kind: &'static str) {
    crate::tally::tally("ringseed_rpc_errors_total", [("kind", kind), ("", "")]);
}

fn json_response(v: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(v.to_string())))
        .expect("static response")
}

impl Rpc {
    /// Refuses, from the head alone, a request for another path, another
    /// method, or without a valid token (before its body is read).
    pub(crate) fn check(
        &self,
        head: &hyper::http::request::Parts,
    ) -> Option<Response<Full<Bytes>>> {
        if head.uri.path() != PATH {
            count_error("not_found");
            return Some(text(StatusCode::NOT_FOUND, "Not Found"));
        }
        if head.method != hyper::Method::POST {
            count_error("method");
            return Some(text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed"));
        }
        if let Some(a) = &self.auth {
            if !a.check(&head.headers) {
                count_error("unauthorized");
                return Some(text(StatusCode::UNAUTHORIZED, "Unauthorized"));
            }
        }
        None
    }

    /// The HTTP handler (after [`Rpc::check`]): [`Rpc::call`] on the body.
    pub(crate) async fn handle(self: Arc<Self>, req: HttpRequest) -> Response<Full<Bytes>> {
        json_response(&self.call(&req.body).await)
    }

    /// Answers one JSON-RPC request body.
    pub(crate) async fn call(&self, body: &[u8]) -> Value {
        let req: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                count_error("parse");
                return json!({"error": {"code": -32700, "data": e.to_string(), "message": "Parse error"}});
            }
        };
        let Value::Object(obj) = &req else {
            count_error("invalid_request");
            return json!({"error": {"code": -32600, "data": "the request must be a JSON object (batches are not supported)", "message": "Invalid Request"}});
        };
        let Some(method) = obj.get("method").and_then(Value::as_str) else {
            count_error("invalid_request");
            return json!({"error": {"code": -32600, "data": "'method' must be a string", "message": "Invalid Request"}});
        };
        let id = obj.get("id").cloned().unwrap_or(Value::Null);
        if !dispatch::exists(method) {
            count_error("method_not_found");
            return json!({"error": {"code": -32601, "message": "Method not found"}});
        }
        let Some(params) = obj.get("params") else {
            count_error("internal");
            return json!({"error": {"code": -32603, "data": "[json.exception.out_of_range.403] key 'params' not found", "message": "Internal error"}});
        };
        crate::tally::tally(
            "ringseed_rpc_requests_total",
            [("method", dispatch::canonical(method)), ("", "")],
        );
        match dispatch::dispatch(&self.api, method, params).await {
            Ok(result) => json!({"id": id, "jsonrpc": "2.0", "result": result}),
            Err(MethodError::Rpc {
                code,
                message,
                data,
            }) => {
                count_error("method_error");
                json!({"error": {"code": code, "data": data, "message": message}, "id": id, "jsonrpc": "2.0"})
            }
            Err(MethodError::Internal(what)) => {
                count_error("internal");
                json!({"error": {"code": -32603, "data": what, "message": "Internal error"}})
            }
        }
    }
}
