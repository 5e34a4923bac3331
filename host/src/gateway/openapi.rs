//! The gateway's OpenAPI 3.1 document, served at `/v1/openapi.json`. `docs/gateway.md`
//! describes the same endpoints for people; a test checks that every route the
//! gateway serves is in both.

use serde_json::{Value, json};

/// The routes the gateway serves, as `(method, path)`: the document lists these.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/v1/health"),
    ("get", "/v1/openapi.json"),
    ("get", "/v1/plugins"),
    ("get", "/v1/tools"),
    ("post", "/v1/tools/{name}/call"),
    ("get", "/v1/audit"),
    ("post", "/v1/chat"),
    ("get", "/v1/approvals"),
    ("post", "/v1/approvals/{id}"),
    ("post", "/v1/recordings/start"),
    ("post", "/v1/recordings/events"),
    ("post", "/v1/recordings/frames"),
    ("post", "/v1/recordings/stop"),
    ("get", "/v1/recordings"),
    ("get", "/v1/recordings/{id}"),
    ("delete", "/v1/recordings/{id}"),
    ("get", "/v1/recordings/{id}/timeline"),
    ("get", "/v1/recordings/{id}/frame"),
    ("get", "/v1/recordings/{id}/frames/{index}"),
    ("post", "/v1/recordings/{id}/map-input"),
];

fn json_body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn id_param() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[a-z0-9-]{1,64}$" } })
}

fn viewer_param() -> Value {
    json!({ "name": "viewer", "in": "query", "schema": { "type": "string" }, "description": "The viewer plugin; default: the only one installed." })
}

/// Chat and recordings: the endpoints that drive plugins of those kinds.
fn kind_paths() -> Value {
    let with = |mut responses: Value, extra: &[(&str, &str)]| {
        for (status, code) in extra {
            responses[*status] = json!({ "description": format!("`{code}`"), "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
        }
        responses
    };
    json!({
        "/v1/chat": { "post": {
            "summary": "Complete a conversation with a chat plugin, in a fresh instance.",
            "requestBody": json_body(json!({ "type": "object", "required": ["plugin", "messages"], "properties": {
                "plugin": { "type": "string" },
                "messages": { "type": "array", "items": { "type": "object", "required": ["role", "content"], "properties": {
                    "role": { "type": "string", "enum": ["system", "user", "assistant"] }, "content": { "type": "string" } } } },
                "model": { "type": "string" }, "temperature": { "type": "number" }, "max_tokens": { "type": "integer" } } })),
            "responses": with(ok("The reply.", json!({ "type": "object", "properties": {
                "message": { "type": "object" }, "model": { "type": "string" },
                "finish_reason": { "type": ["string", "null"] }, "usage": { "type": ["object", "null"] } } })),
                &[("404", "not_found"), ("429", "chat_rate_limited (with Retry-After)"),
                  ("502", "chat_unauthorized, chat_provider, chat_denied or plugin_fault")])
        }},
        "/v1/approvals": { "get": {
            "summary": "Plugins' approval questions waiting for a person (an `ask` policy), oldest first. Text the plugin wrote is shown escaped.",
            "responses": ok("The questions.", json!({ "type": "object", "properties": { "pending": { "type": "array", "items": {
                "type": "object", "properties": {
                    "id": { "type": "integer" }, "plugin": { "type": "string" }, "action": { "type": "string" },
                    "summary": { "type": "string" }, "details": { "type": ["string", "null"] },
                    "asked_at": { "type": "string" }, "expires_in_ms": { "type": "integer" } } } } } }))
        }},
        "/v1/approvals/{id}": { "post": {
            "summary": "Answer a waiting question. No answer before it expires means no.",
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
            "requestBody": json_body(json!({ "type": "object", "required": ["approve"], "properties": {
                "approve": { "type": "boolean" }, "reason": { "type": "string" } } })),
            "responses": with(ok("Answered.", json!({ "type": "object" })), &[("404", "not_found: answered or expired")])
        }},
        "/v1/recordings/start": { "post": {
            "summary": "Start a recording session in the recorder plugin.",
            "requestBody": json_body(json!({ "type": "object", "properties": {
                "recorder": { "type": "string" }, "title": { "type": "string" } } })),
            "responses": with(ok("The new recording's id.", json!({ "type": "object", "properties": {
                "recording_id": { "type": "string" }, "recorder": { "type": "string" } } })),
                &[("409", "already_recording")])
        }},
        "/v1/recordings/events": { "post": {
            "summary": "Record one event of the active session; sensitive input is redacted before it is written.",
            "requestBody": json_body(json!({ "type": "object", "required": ["event"], "properties": {
                "recorder": { "type": "string" },
                "event": { "type": "object", "required": ["kind", "time_ms"], "properties": {
                    "kind": { "type": "string" }, "time_ms": { "type": "integer" },
                    "target": { "type": "string" }, "value": { "type": "string" },
                    "sensitive": { "type": "boolean" }, "x": { "type": "integer" }, "y": { "type": "integer" } } } } })),
            "responses": with(ok("Recorded.", json!({ "type": "object" })), &[("409", "no_session: nothing was stored")])
        }},
        "/v1/recordings/frames": { "post": {
            "summary": "Record one JPEG frame of the active session (the body is the JPEG).",
            "parameters": [
                { "name": "time_ms", "in": "query", "required": true, "schema": { "type": "integer" } },
                { "name": "recorder", "in": "query", "schema": { "type": "string" } }
            ],
            "requestBody": { "required": true, "content": { "image/jpeg": { "schema": { "type": "string", "format": "binary" } } } },
            "responses": with(ok("Recorded.", json!({ "type": "object" })), &[("409", "no_session")])
        }},
        "/v1/recordings/stop": { "post": {
            "summary": "Stop the session and summarise it. The body is optional.",
            "responses": with(ok("The summary.", json!({ "type": "object", "properties": {
                "recording_id": { "type": "string" }, "duration_ms": { "type": "integer" },
                "steps": { "type": "integer" }, "frames": { "type": "integer" },
                "redactions": { "type": "integer" }, "refused": { "type": "integer" } } })),
                &[("409", "no_session")])
        }},
        "/v1/recordings": { "get": {
            "summary": "Every recording, each described by the viewer plugin (or with an error if it cannot be read).",
            "parameters": [viewer_param()],
            "responses": ok("The recordings.", json!({ "type": "object", "properties": {
                "recordings": { "type": "array", "items": { "type": "object" } } } }))
        }},
        "/v1/recordings/{id}": {
            "get": {
                "summary": "A recording's overview, through the viewer plugin.",
                "parameters": [id_param(), viewer_param()],
                "responses": with(ok("The overview.", json!({ "type": "object" })), &[("404", "not_found")])
            },
            "delete": {
                "summary": "Delete a recording (not one being recorded).",
                "parameters": [id_param()],
                "responses": with(ok("Deleted.", json!({ "type": "object" })),
                    &[("404", "not_found"), ("409", "recording: stop it first")])
            }
        },
        "/v1/recordings/{id}/timeline": { "get": {
            "summary": "The recording's steps, each with its time and a one-line description.",
            "parameters": [id_param(), viewer_param()],
            "responses": with(ok("The steps.", json!({ "type": "object", "properties": {
                "steps": { "type": "array", "items": { "type": "object", "properties": {
                    "index": { "type": "integer" }, "time_ms": { "type": "integer" }, "description": { "type": "string" } } } } } })),
                &[("404", "not_found")])
        }},
        "/v1/recordings/{id}/frame": { "get": {
            "summary": "The frame on screen at a time: the last taken at or before it.",
            "parameters": [id_param(), viewer_param(),
                { "name": "time_ms", "in": "query", "required": true, "schema": { "type": "integer" } }],
            "responses": with(json!({ "200": { "description": "The JPEG, with x-frame-index and x-frame-time-ms headers.",
                "content": { "image/jpeg": {} } } }), &[("404", "not_found")])
        }},
        "/v1/recordings/{id}/frames/{index}": { "get": {
            "summary": "A frame by its position.",
            "parameters": [id_param(), viewer_param(),
                { "name": "index", "in": "path", "required": true, "schema": { "type": "integer" } }],
            "responses": with(json!({ "200": { "description": "The JPEG, with x-frame-index and x-frame-time-ms headers.",
                "content": { "image/jpeg": {} } } }), &[("404", "not_found")])
        }},
        "/v1/recordings/{id}/map-input": { "post": {
            "summary": "Map a point in a viewer of the given size (the screen scaled to fit, letterboxed) to the recorded screen's pixels; null on the letterbox.",
            "parameters": [id_param()],
            "requestBody": json_body(json!({ "type": "object", "required": ["viewport", "point"], "properties": {
                "viewer": { "type": "string" },
                "viewport": { "type": "object", "properties": { "width": { "type": "integer" }, "height": { "type": "integer" } } },
                "point": { "type": "object", "properties": { "x": { "type": "number" }, "y": { "type": "number" } } } } })),
            "responses": with(ok("The point on the screen, or null.", json!({ "type": "object", "properties": {
                "point": { "type": ["object", "null"] } } })), &[("404", "not_found")])
        }}
    })
}

fn error_responses() -> Value {
    json!({
        "400": { "$ref": "#/components/responses/Error" },
        "401": { "description": "Missing or wrong bearer token (no body)." },
        "403": { "$ref": "#/components/responses/Error" },
        "413": { "$ref": "#/components/responses/Error" }
    })
}

fn ok(description: &str, schema: Value) -> Value {
    let mut responses = error_responses();
    responses["200"] = json!({
        "description": description,
        "content": { "application/json": { "schema": schema } }
    });
    responses
}

/// The document.
pub fn document() -> Value {
    let mut doc = base();
    if let (Some(paths), Value::Object(more)) = (doc["paths"].as_object_mut(), kind_paths()) {
        paths.extend(more);
    }
    doc
}

fn base() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Pincer gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The localhost API of a Pincer host. Every request needs `Authorization: Bearer TOKEN` (the token is in $PINCER_HOME/run/gateway.json), a Host header naming the gateway, and no Origin header unless the admin allowed that origin."
        },
        "servers": [{ "url": "http://127.0.0.1:{port}", "variables": { "port": { "default": "7878" } } }],
        "security": [{ "bearer": [] }],
        "paths": {
            "/v1/health": { "get": {
                "summary": "Whether the gateway is up (a cheap authenticated request).",
                "responses": ok("Up.", json!({ "type": "object", "properties": {
                    "ok": { "type": "boolean" }, "version": { "type": "string" } } }))
            }},
            "/v1/openapi.json": { "get": {
                "summary": "This document.",
                "responses": ok("The OpenAPI document.", json!({ "type": "object" }))
            }},
            "/v1/plugins": { "get": {
                "summary": "Installed plugins, with their approved grants, risk and any pending update.",
                "responses": ok("The plugins.", json!({ "type": "object", "properties": {
                    "plugins": { "type": "array", "items": { "$ref": "#/components/schemas/Plugin" } } } }))
            }},
            "/v1/tools": { "get": {
                "summary": "The tools of every installed, approved mcp-server plugin, named ALIAS__TOOL as over MCP.",
                "responses": ok("The tools.", json!({ "type": "object", "properties": {
                    "tools": { "type": "array", "items": { "$ref": "#/components/schemas/Tool" } } } }))
            }},
            "/v1/tools/{name}/call": { "post": {
                "summary": "Call a tool in a fresh instance. Arguments are checked against the tool's input schema first; a plugin error or fault is a result with isError true.",
                "parameters": [{ "name": "name", "in": "path", "required": true, "schema": { "type": "string" } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": {
                    "type": "object", "additionalProperties": false,
                    "properties": { "arguments": { "type": "object" } } } } } },
                "responses": {
                    "200": { "description": "The MCP CallToolResult.", "content": { "application/json": {
                        "schema": { "$ref": "#/components/schemas/CallToolResult" } } } },
                    "400": { "$ref": "#/components/responses/Error" },
                    "401": { "description": "Missing or wrong bearer token (no body)." },
                    "403": { "$ref": "#/components/responses/Error" },
                    "404": { "$ref": "#/components/responses/Error" },
                    "413": { "$ref": "#/components/responses/Error" }
                }
            }},
            "/v1/audit": { "get": {
                "summary": "Audit records after a sequence number, oldest first.",
                "parameters": [
                    { "name": "since", "in": "query", "schema": { "type": "integer", "minimum": 0, "default": 0 } },
                    { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 10000, "default": 1000 } }
                ],
                "responses": ok("The records and the sequence number to ask from next.", json!({
                    "type": "object", "properties": {
                        "records": { "type": "array", "items": { "$ref": "#/components/schemas/AuditRecord" } },
                        "next": { "type": "integer" } } }))
            }}
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": { "Error": {
                "description": "An error, with a stable code and a message that says what to do.",
                "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
            }},
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": { "code": { "type": "string", "enum": [
                        "bad_request", "forbidden", "not_found", "too_large",
                        "unsupported_media_type", "internal", "wrong_kind", "busy",
                        "plugin_fault", "not_loadable", "ambiguous", "chat_invalid_request",
                        "chat_unauthorized", "chat_rate_limited", "chat_provider",
                        "chat_denied", "no_session", "already_recording", "invalid",
                        "storage", "corrupt"] },
                        "message": { "type": "string" } } } } },
                "Plugin": { "type": "object", "properties": {
                    "id": { "type": "string" }, "version": { "type": "string" },
                    "kind": { "type": "string", "enum": ["mcp-server", "chat", "recorder", "viewer"] },
                    "risk": { "type": "string" }, "grants": { "type": "object" },
                    "pending": { "type": ["object", "null"] } } },
                "Tool": { "type": "object", "properties": {
                    "name": { "type": "string" }, "plugin": { "type": "string" },
                    "description": { "type": "string" }, "input_schema": { "type": "object" },
                    "output_schema": { "type": ["object", "null"] } } },
                "CallToolResult": { "type": "object", "properties": {
                    "content": { "type": "array", "items": { "type": "object" } },
                    "structuredContent": {}, "isError": { "type": "boolean" } } },
                "AuditRecord": { "type": "object", "properties": {
                    "seq": { "type": "integer" }, "time": { "type": "string" },
                    "actor": { "type": "string" }, "event": { "type": "string" },
                    "plugin": { "type": "string" }, "details": { "type": "object" },
                    "mac": { "type": "string" } } }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_every_route_and_only_those() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        for (method, path) in ROUTES {
            assert!(
                paths.get(*path).and_then(|p| p.get(*method)).is_some(),
                "{method} {path} is not in the OpenAPI document"
            );
        }
        let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
        assert_eq!(
            documented,
            ROUTES.len(),
            "the document lists a route the gateway lacks"
        );
    }
}
