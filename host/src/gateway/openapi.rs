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
];

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
                        "unsupported_media_type", "internal"] },
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
