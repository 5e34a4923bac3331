//! Tool calls as tasks (the MCP Tasks extension, SEP-2663), for 2026-07-28 clients
//! that declare it: a call still running after [`PROMOTE_AFTER`], or one whose plugin
//! asks a question, becomes a task that the client polls with `tasks/get`, answers
//! with `tasks/update` and may stop with `tasks/cancel`. A quick call is answered as
//! usual, so a client that declares the extension loses nothing on short calls.
//!
//! The call itself is the same as any other: one fresh instance, its grants, its
//! limits (the plugin's `timeout_ms` still bounds it) and its audit records. A task id
//! is a random UUID: knowing it is what lets a client see the task, so it is as secret
//! as the answer it leads to (the threat model says what that covers).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rmcp::ErrorData;
use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, CreateTaskResult};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::task_manager::{TaskExit, TaskOptions};

use super::approver::{self, CannotAsk};
use super::handler;
use super::registry::Entry;
use super::server::{Server, fault_result, tool_result};
use crate::caps::approval::Approver;
use crate::runtime::CallError;

/// How long a call may run before it becomes a task.
pub(super) const PROMOTE_AFTER: Duration = Duration::from_millis(250);

/// How long a task is kept, at least: it is failed if still running then, and a
/// finished one is kept as long again for its client to read (rmcp's retention). A
/// plugin whose `timeout_ms` is longer gets that and 10 s, so that its call always
/// ends first.
const TASK_TTL: Duration = Duration::from_secs(600);

/// How often a client is told to poll.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// The most tasks running at once (a semaphore's permits, held by each running task);
/// past it, a call is answered when it ends, as for a client without the extension,
/// and a question it asks is refused.
pub(super) const MAX_RUNNING: usize = 64;

impl Server {
    /// Call `entry` for a client that declared the Tasks extension: answered directly
    /// when it ends within [`PROMOTE_AFTER`], and otherwise, or as soon as the plugin
    /// asks a question, answered with a task.
    pub(super) async fn call_tool_task(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
        entry: &Entry,
        arguments: String,
    ) -> Result<CallToolResponse, ErrorData> {
        let (approver, mut questions) = if approver::client_can_ask(&context) {
            approver::eliciting()
        } else {
            (
                Arc::new(CannotAsk) as Arc<dyn Approver>,
                approver::Questions::none(),
            )
        };
        // Log lines reach the client, when its request asked for a level, while the
        // request is open: until the answer, or until the call becomes a task (a task
        // has no stream to send them on; the host's log has them all).
        let (log, mut lines) = handler::request_log(&context);
        let server = self.clone();
        let plugin = entry.plugin.clone();
        let tool = entry.tool.clone();
        // Once the call is a task, its spent instance is recycled as soon as it ends;
        // before, after the answer is written, as for any call.
        let promoted = Arc::new(AtomicBool::new(false));
        let in_task = promoted.clone();
        let mut call = Box::pin(async move {
            let (output, spent) = plugin
                .call_tool_ready(&tool, &arguments, Some(approver), log)
                .await;
            if in_task.load(Ordering::Acquire) {
                tokio::spawn(async move { plugin.recycle(spent).await });
            } else {
                server.recycle_later(&plugin, spent);
            }
            output
        });
        let logger = entry.plugin.id().to_owned();
        let promote = tokio::time::sleep(PROMOTE_AFTER);
        tokio::pin!(promote);
        let mut waiting = false;
        let (permit, first_question) = loop {
            tokio::select! {
                // Lines first: those written before the call became a task reach the
                // client before the task does.
                biased;
                Some(line) = async { lines.as_mut()?.recv().await } => {
                    handler::send_log(&context.peer, &logger, line).await;
                }
                output = &mut call => {
                    // The lines the plugin wrote last come before the result.
                    while let Some(line) = lines.as_mut().and_then(|l| l.try_recv().ok()) {
                        handler::send_log(&context.peer, &logger, line).await;
                    }
                    return Ok(tool_result(output).into());
                }
                question = questions.next() => match self.shared.task_slots.clone().try_acquire_owned() {
                    Ok(permit) => break (permit, Some(question)),
                    // No room for another task: the question cannot wait for an answer.
                    Err(_) => approver::refuse(question, "too many tasks are running; try again later"),
                },
                _ = &mut promote, if !waiting => match self.shared.task_slots.clone().try_acquire_owned() {
                    Ok(permit) => break (permit, None),
                    // No room for another task: answer when the call ends.
                    Err(_) => waiting = true,
                },
                _ = context.ct.cancelled() => {
                    return Ok(fault_result(format!("the call to `{}` was cancelled", request.name)).into());
                }
            }
        };
        drop(lines);
        promoted.store(true, Ordering::Release);
        // At least the plugin's own time limit, so that the task outlives its call.
        let ttl = TASK_TTL.max(entry.plugin.limits().timeout + Duration::from_secs(10));
        let tasks = self.shared.tasks.clone();
        let task = self.shared.tasks.spawn(
            TaskOptions::new()
                .with_ttl_ms(ttl.as_millis() as u64)
                .with_poll_interval_ms(POLL_INTERVAL.as_millis() as u64),
            move |task| {
                Box::pin(async move {
                    // Held while the task runs: the count of running tasks.
                    let _permit = permit;
                    let mut asked = 0u32;
                    let mut question = first_question;
                    loop {
                        if let Some(q) = question.take() {
                            asked += 1;
                            // The plugin waits for this answer; the call cannot end
                            // meanwhile, so only a cancellation interrupts it.
                            let key = format!("approval-{asked}");
                            tokio::select! {
                                _ = approver::answer_in_task(q, key, &task, &tasks) => {}
                                _ = task.cancelled() => return Err(TaskExit::Cancelled),
                            }
                        }
                        tokio::select! {
                            output = &mut call => return outcome(output),
                            q = questions.next() => question = Some(q),
                            // Dropping the call drops its store: the instance stops at
                            // its next yield point.
                            _ = task.cancelled() => return Err(TaskExit::Cancelled),
                        }
                    }
                })
            },
        );
        Ok(CallToolResponse::Task(CreateTaskResult::new(task)))
    }
}

/// How a task's call settles: a tool result (an `isError` one too) completes it; a
/// call that gave none (the plugin refused it as a call error, faulted, timed out or
/// stayed busy) fails it with the error, where a direct answer can only say it as an
/// `isError` result.
fn outcome(
    output: Result<crate::kinds::mcp::ToolOutput, CallError>,
) -> Result<CallToolResult, TaskExit> {
    match output {
        Ok(_) => Ok(tool_result(output)),
        Err(e @ (CallError::InvalidArguments { .. } | CallError::UnknownTool { .. })) => Err(
            TaskExit::Error(ErrorData::invalid_params(e.to_string(), None)),
        ),
        Err(e) => Err(TaskExit::Error(ErrorData::internal_error(
            e.to_string(),
            None,
        ))),
    }
}
