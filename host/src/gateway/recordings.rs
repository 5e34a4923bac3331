//! `/v1/recordings`: record a workflow through the recorder plugin, view it through
//! the viewer plugin. The host never reads or writes a recording itself: each plugin
//! reaches the `recordings` root only through its own mount (read-write for the
//! recorder, read-only for the viewer).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, App, Body, call_error, load};
use crate::kinds::recording::{Event, FrameSelector, Point, RecorderFailure, ViewerFailure};
use crate::manifest::PluginKind;
use crate::store::plugins::PluginStore;

/// The loaded plugin to use: the one named, or else the one [`pick`] finds.
async fn plugin_of(
    app: &App,
    named: Option<String>,
    kind: PluginKind,
) -> Result<std::sync::Arc<crate::runtime::Plugin>, ApiError> {
    load(app, &pick(app, named, kind).await?).await
}

/// The plugin to use: the one named, or the only installed plugin of `kind`.
async fn pick(app: &App, named: Option<String>, kind: PluginKind) -> Result<String, ApiError> {
    if let Some(id) = named {
        return Ok(id);
    }
    // During a session, the recorder that is recording (the common case, and the one
    // on every event's path).
    if kind == PluginKind::Recorder {
        let active = active(app);
        if active.len() == 1 {
            return Ok(active.keys().next().expect("one").clone());
        }
    }
    let runtime = app.runtime.clone();
    let installed = tokio::task::spawn_blocking(move || PluginStore::new(runtime.home()).list())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let ids: Vec<String> = installed
        .into_iter()
        .filter(|p| p.active.grants.kind == kind.to_string())
        .map(|p| p.id)
        .collect();
    match ids.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(ApiError::not_found(format!(
            "no {kind} plugin is installed: install one (the reference one is manifests/{kind}.toml)"
        ))),
        _ => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ambiguous",
            format!(
                "several {kind} plugins are installed ({}): name one with `{}`",
                ids.join(", "),
                if kind == PluginKind::Recorder {
                    "recorder"
                } else {
                    "viewer"
                }
            ),
        )),
    }
}

fn recorder_failure(failure: RecorderFailure) -> ApiError {
    let message = failure.to_string();
    match failure {
        RecorderFailure::NoSession => ApiError::new(StatusCode::CONFLICT, "no_session", message),
        RecorderFailure::AlreadyRecording => {
            ApiError::new(StatusCode::CONFLICT, "already_recording", message)
        }
        RecorderFailure::Invalid(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", message),
        RecorderFailure::Storage(_) => ApiError::new(StatusCode::BAD_GATEWAY, "storage", message),
    }
}

fn viewer_failure(failure: ViewerFailure) -> ApiError {
    let message = failure.to_string();
    match failure {
        ViewerFailure::NotFound(_) => ApiError::not_found(message),
        ViewerFailure::Corrupt(_) => ApiError::new(StatusCode::BAD_GATEWAY, "corrupt", message),
        ViewerFailure::Invalid(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", message),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct StartBody {
    #[serde(default)]
    recorder: Option<String>,
    #[serde(default)]
    title: Option<String>,
}

pub(super) async fn start(
    State(app): State<App>,
    Body(body): Body<StartBody>,
) -> Result<Json<Value>, ApiError> {
    let plugin = plugin_of(&app, body.recorder, PluginKind::Recorder).await?;
    let id = plugin
        .start_recording(body.title.as_deref())
        .await
        .map_err(call_error)?
        .map_err(recorder_failure)?;
    active(&app).insert(plugin.id().to_owned(), id.clone());
    Ok(Json(json!({ "recording_id": id, "recorder": plugin.id() })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventBody {
    #[serde(default)]
    recorder: Option<String>,
    event: Event,
}

pub(super) async fn event(
    State(app): State<App>,
    Body(body): Body<EventBody>,
) -> Result<Json<Value>, ApiError> {
    let plugin = plugin_of(&app, body.recorder, PluginKind::Recorder).await?;
    plugin
        .record_event(body.event)
        .await
        .map_err(call_error)?
        .map_err(recorder_failure)?;
    Ok(Json(json!({ "recorded": true })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FrameQuery {
    time_ms: u64,
    #[serde(default)]
    recorder: Option<String>,
}

/// The body is the JPEG itself (`content-type: image/jpeg`).
pub(super) async fn frame_in(
    State(app): State<App>,
    query: Result<Query<FrameQuery>, axum::extract::rejection::QueryRejection>,
    jpeg: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{}: use ?time_ms=N", e.body_text()),
        )
    })?;
    let jpeg = jpeg.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!("the request body is larger than {} bytes", super::MAX_BODY),
            )
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text())
        }
    })?;
    let plugin = plugin_of(&app, query.recorder, PluginKind::Recorder).await?;
    plugin
        .record_frame(query.time_ms, jpeg.to_vec())
        .await
        .map_err(call_error)?
        .map_err(recorder_failure)?;
    Ok(Json(json!({ "recorded": true })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct StopBody {
    #[serde(default)]
    recorder: Option<String>,
}

/// The body is optional: `{"recorder": ID}` or nothing.
pub(super) async fn stop(
    State(app): State<App>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let named = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        serde_json::from_slice::<StopBody>(&body)
            .map_err(|e| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("the body must be {{\"recorder\": ID}} or empty: {e}"),
                )
            })?
            .recorder
    };
    let plugin = plugin_of(&app, named, PluginKind::Recorder).await?;
    let stopped = plugin.stop_recording().await;
    // Whatever the answer, no session is active any more: a stop always ends it, and
    // a fault drops the session with its instance.
    active(&app).remove(plugin.id());
    let summary = stopped.map_err(call_error)?.map_err(recorder_failure)?;
    Ok(Json(json!(summary)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ViewerQuery {
    #[serde(default)]
    viewer: Option<String>,
    #[serde(default)]
    time_ms: Option<u64>,
}

fn viewer_query(
    query: Result<Query<ViewerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<ViewerQuery, ApiError> {
    query.map(|Query(q)| q).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            format!("{}: use ?viewer=ID or ?time_ms=N", e.body_text()),
        )
    })
}

pub(super) async fn info(
    State(app): State<App>,
    Path(id): Path<String>,
    query: Result<Query<ViewerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let query = viewer_query(query)?;
    let plugin = plugin_of(&app, query.viewer, PluginKind::Viewer).await?;
    let info = plugin
        .recording_info(&id)
        .await
        .map_err(call_error)?
        .map_err(viewer_failure)?;
    Ok(Json(json!(info)))
}

pub(super) async fn timeline(
    State(app): State<App>,
    Path(id): Path<String>,
    query: Result<Query<ViewerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let query = viewer_query(query)?;
    let plugin = plugin_of(&app, query.viewer, PluginKind::Viewer).await?;
    let steps = plugin
        .timeline(&id)
        .await
        .map_err(call_error)?
        .map_err(viewer_failure)?;
    Ok(Json(json!({ "recording_id": id, "steps": steps })))
}

async fn frame_out(
    app: &App,
    id: &str,
    viewer: Option<String>,
    selector: FrameSelector,
) -> Result<Response, ApiError> {
    let plugin = plugin_of(app, viewer, PluginKind::Viewer).await?;
    let frame = plugin
        .frame(id, selector)
        .await
        .map_err(call_error)?
        .map_err(viewer_failure)?;
    let mut response = (
        [(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"))],
        frame.jpeg,
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert("x-frame-index", HeaderValue::from(frame.index));
    headers.insert("x-frame-time-ms", HeaderValue::from(frame.time_ms));
    Ok(response)
}

/// A frame by index.
pub(super) async fn frame_by_index(
    State(app): State<App>,
    Path((id, index)): Path<(String, u32)>,
    query: Result<Query<ViewerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let query = viewer_query(query)?;
    frame_out(&app, &id, query.viewer, FrameSelector::Index(index)).await
}

/// The frame on screen at `?time_ms=N`.
pub(super) async fn frame_at(
    State(app): State<App>,
    Path(id): Path<String>,
    query: Result<Query<ViewerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let query = viewer_query(query)?;
    let Some(time_ms) = query.time_ms else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "say which frame: ?time_ms=N (or GET /v1/recordings/{id}/frames/{index})",
        ));
    };
    frame_out(&app, &id, query.viewer, FrameSelector::TimeMs(time_ms)).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Viewport {
    width: u32,
    height: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MapBody {
    #[serde(default)]
    viewer: Option<String>,
    viewport: Viewport,
    point: Point,
}

pub(super) async fn map_input(
    State(app): State<App>,
    Path(id): Path<String>,
    Body(body): Body<MapBody>,
) -> Result<Json<Value>, ApiError> {
    let plugin = plugin_of(&app, body.viewer, PluginKind::Viewer).await?;
    let mapped = plugin
        .map_input(&id, (body.viewport.width, body.viewport.height), body.point)
        .await
        .map_err(call_error)?
        .map_err(viewer_failure)?;
    Ok(Json(json!({ "point": mapped })))
}

/// Recordings being recorded now, by recorder.
fn active(app: &App) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, String>> {
    app.recording.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `id` can name a recording: 1 to 64 of a-z, 0-9 and `-` (the recorder makes
/// them so), never a path.
fn is_recording_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Every recording under the `recordings` root, each described by the viewer (which
/// reads them through its read-only mount; the host only lists the names).
pub(super) async fn list(
    State(app): State<App>,
    query: Result<Query<ViewerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let query = viewer_query(query)?;
    let plugin = plugin_of(&app, query.viewer, PluginKind::Viewer).await?;
    let runtime = app.runtime.clone();
    let mut ids = tokio::task::spawn_blocking(move || {
        runtime.home().list_dir(RECORDINGS).unwrap_or_default()
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    ids.retain(|id| is_recording_id(id));
    ids.sort();
    let mut recordings = Vec::with_capacity(ids.len());
    for id in ids {
        let described = match plugin.recording_info(&id).await.map_err(call_error)? {
            Ok(info) => json!(info),
            Err(why) => json!({ "id": id, "error": why.to_string() }),
        };
        recordings.push(described);
    }
    Ok(Json(json!({ "recordings": recordings })))
}

/// The `recordings` root, relative to the home.
const RECORDINGS: &str = "recordings";

/// Delete a recording: its directory, without following any link inside it.
pub(super) async fn delete(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if !is_recording_id(&id) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid",
            format!("`{id}` is not a recording id: 1 to 64 of a-z, 0-9 and -"),
        ));
    }
    if active(&app).values().any(|a| *a == id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "recording",
            format!("recording {id} is still being recorded: stop it first"),
        ));
    }
    let runtime = app.runtime.clone();
    let rel = format!("{RECORDINGS}/{id}");
    let existed = tokio::task::spawn_blocking(move || {
        let home = runtime.home();
        if !home.list_dir(RECORDINGS).unwrap_or_default().contains(&id) {
            return Ok(false);
        }
        home.remove_dir_all(&rel).map(|()| true)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(format!("cannot delete the recording: {e}")))?;
    if !existed {
        return Err(ApiError::not_found(
            "no such recording (see GET /v1/recordings)",
        ));
    }
    Ok(Json(json!({ "deleted": true })))
}
