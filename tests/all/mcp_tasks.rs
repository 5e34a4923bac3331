//! Tool calls as tasks (the MCP Tasks extension, SEP-2663) for 2026-07-28 clients that
//! declare it, spoken as raw JSON-RPC over stdio: a quick call is answered at once, a
//! long one becomes a task that the client polls to its result; a plugin's question
//! is an input request of the task, answered with `tasks/update`; `tasks/cancel` stops
//! the call; a client without the extension never gets a task, and cannot read one.

use std::time::{Duration, Instant};

use pincer_test_support::{McpStdio, Pincer};
use serde_json::{Value, json};

const TASKS: &str = "io.modelcontextprotocol/tasks";

/// A home serving the conformance plugin (`conformance__*`), whose jobs are slow and
/// whose `confirm_delete` asks for approval.
fn served() -> Pincer {
    crate::mcp_2026::served_conformance()
}

/// What a client declares: the Tasks extension or not, form elicitation or not.
#[derive(Clone, Copy)]
struct Client {
    tasks: bool,
    can_ask: bool,
}

const WITH_TASKS: Client = Client {
    tasks: true,
    can_ask: true,
};
const WITHOUT_TASKS: Client = Client {
    tasks: false,
    can_ask: true,
};

fn with_meta(mut params: Value, client: Client) -> Value {
    let mut capabilities = json!({});
    if client.tasks {
        capabilities["extensions"] = json!({ TASKS: {} });
    }
    if client.can_ask {
        capabilities["elicitation"] = json!({ "form": {} });
    }
    params["_meta"] = crate::mcp_2026::meta_declaring(capabilities);
    params
}

struct Server(McpStdio);

impl Server {
    fn start(p: &Pincer) -> Self {
        Server(McpStdio::spawn(p))
    }

    fn request(&mut self, method: &str, params: Value, client: Client) -> Value {
        self.0.request(method, with_meta(params, client))
    }

    fn call(&mut self, tool: &str, arguments: Value, client: Client) -> Value {
        self.request(
            "tools/call",
            json!({ "name": format!("conformance__{tool}"), "arguments": arguments }),
            client,
        )
    }

    /// `tasks/get` of `task` until `done` holds for it (within 30 s): its last state.
    fn poll(&mut self, task: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = self.request("tasks/get", json!({ "taskId": task }), WITH_TASKS);
            let state = got["result"].clone();
            assert_eq!(state["taskId"], task, "{got}");
            if done(&state) {
                return state;
            }
            assert!(Instant::now() < deadline, "task {task} stayed {state}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn terminal(state: &Value) -> bool {
    matches!(
        state["status"].as_str(),
        Some("completed" | "failed" | "cancelled")
    )
}

/// The id of the task that `answer` (to a `tools/call`) created.
fn task_of(answer: &Value) -> String {
    let result = &answer["result"];
    assert_eq!(result["resultType"], "task", "not a task: {answer}");
    assert!(result.get("result").is_none(), "{answer}");
    assert!(result["ttlMs"].as_u64().is_some_and(|t| t > 0), "{answer}");
    result["taskId"].as_str().expect("a task id").to_owned()
}

#[test]
fn a_long_call_becomes_a_task_that_the_client_polls_to_its_result() {
    let p = served();
    let mut server = Server::start(&p);

    let discovered = server.request("server/discover", json!({}), WITH_TASKS);
    assert!(
        discovered["result"]["capabilities"]["extensions"][TASKS].is_object(),
        "{discovered}"
    );

    // A quick call is answered as usual.
    let quick = server.call("greet", json!({ "name": "Ada" }), WITH_TASKS);
    assert_eq!(quick["result"]["resultType"], "complete", "{quick}");
    assert_eq!(
        quick["result"]["content"][0]["text"], "Hello, Ada!",
        "{quick}"
    );

    // A slow one is a task, readable at once and completed later.
    let slow = server.call("slow_compute", json!({ "seconds": 1 }), WITH_TASKS);
    let task = task_of(&slow);
    let first = server.request("tasks/get", json!({ "taskId": task }), WITH_TASKS);
    assert_eq!(first["result"]["resultType"], "complete", "{first}");
    let done = server.poll(&task, terminal);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        done["result"]["content"][0]["text"], "Computed for 1 s",
        "{done}"
    );

    // A tool's isError result completes its task; a call error fails it.
    let failing = task_of(&server.call("failing_job", json!({}), WITH_TASKS));
    let done = server.poll(&failing, terminal);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["isError"], true, "{done}");
    let refused = task_of(&server.call("protocol_error_job", json!({}), WITH_TASKS));
    let done = server.poll(&refused, terminal);
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["error"]["code"], -32602, "{done}");
    assert!(
        done["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("refuses every call")),
        "{done}"
    );

    // Without the extension: the slow call is answered when it ends, and tasks are
    // not there to read.
    let direct = server.call("slow_compute", json!({ "seconds": 1 }), WITHOUT_TASKS);
    assert_eq!(direct["result"]["resultType"], "complete", "{direct}");
    assert_eq!(
        direct["result"]["content"][0]["text"], "Computed for 1 s",
        "{direct}"
    );
    let hidden = server.request("tasks/get", json!({ "taskId": task }), WITHOUT_TASKS);
    assert_eq!(hidden["error"]["code"], -32021, "{hidden}");
    assert!(
        hidden["error"]["data"]["requiredCapabilities"]["extensions"][TASKS].is_object(),
        "{hidden}"
    );

    // A task id that no call created is unknown.
    let unknown = server.request("tasks/get", json!({ "taskId": "no-such-task" }), WITH_TASKS);
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
}

#[test]
fn a_task_asks_its_question_through_tasks_get_and_hears_the_answer_through_tasks_update() {
    let p = served();
    let mut server = Server::start(&p);
    for (approve, expected, is_error) in [
        (true, "Deleted notes.txt", false),
        (false, "notes.txt was not deleted", true),
    ] {
        let asked = server.call(
            "confirm_delete",
            json!({ "filename": "notes.txt" }),
            WITH_TASKS,
        );
        // The question makes the call a task at once.
        let task = task_of(&asked);
        let waiting = server.poll(&task, |s| s["status"] == "input_required" || terminal(s));
        assert_eq!(waiting["status"], "input_required", "{waiting}");
        let requests = waiting["inputRequests"]
            .as_object()
            .expect("input requests");
        assert_eq!(requests.len(), 1, "{waiting}");
        let (key, request) = requests.iter().next().unwrap();
        assert_eq!(request["method"], "elicitation/create", "{waiting}");
        let message = request["params"]["message"].as_str().unwrap();
        assert!(
            message.contains("dev.pincer.conformance") && message.contains("Delete notes.txt"),
            "{message}"
        );

        let ack = server.request(
            "tasks/update",
            json!({ "taskId": task, "inputResponses": {
                key.clone(): { "action": "accept", "content": { "approve": approve } },
                "no-such-key": { "ignored": true },
            } }),
            WITH_TASKS,
        );
        assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
        assert!(ack["result"].get("status").is_none(), "{ack}");
        let done = server.poll(&task, terminal);
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            done["result"]["isError"].as_bool().unwrap_or(false),
            is_error,
            "{done}"
        );
        let text = done["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains(expected), "{text}");
    }
    // Each answer is in the audit trail, as any approval's.
    let audit = std::fs::read_to_string(p.home.path().join("audit/log.jsonl")).unwrap();
    assert_eq!(audit.matches("\"approval-answer\"").count(), 2, "{audit}");
}

#[test]
fn a_cancelled_task_stops_its_call_and_the_plugin_serves_on() {
    let p = served();
    let mut server = Server::start(&p);
    // As many 60-second jobs as the plugin runs at once (its `concurrency`, 4; its
    // `timeout_ms` would end them at 10 s).
    let tasks: Vec<String> = (0..4)
        .map(|_| task_of(&server.call("slow_compute", json!({ "seconds": 60 }), WITH_TASKS)))
        .collect();
    for task in &tasks {
        let ack = server.request("tasks/cancel", json!({ "taskId": task }), WITH_TASKS);
        assert_eq!(ack["result"]["resultType"], "complete", "{ack}");
        assert!(ack["result"].get("taskId").is_none(), "{ack}");
    }
    for task in &tasks {
        let done = server.poll(task, terminal);
        assert_eq!(done["status"], "cancelled", "{done}");
    }
    // Cancelling a finished task is acknowledged the same way.
    let again = server.request("tasks/cancel", json!({ "taskId": tasks[0] }), WITH_TASKS);
    assert_eq!(again["result"]["resultType"], "complete", "{again}");

    // The cancelled calls gave their instances back: a call is answered at once, where
    // four running jobs would make it wait for a slot (and become a task).
    let quick = server.call("greet", json!({ "name": "again" }), WITH_TASKS);
    assert_eq!(quick["result"]["resultType"], "complete", "{quick}");
    assert_eq!(
        quick["result"]["content"][0]["text"], "Hello, again!",
        "{quick}"
    );
}

#[test]
fn a_quick_call_of_a_client_with_tasks_sends_the_log_lines_its_request_asks_for() {
    let p = served();
    let mut server = Server::start(&p);
    let mut params = with_meta(
        json!({ "name": "conformance__test_logging_tool", "arguments": {} }),
        WITH_TASKS,
    );
    params["_meta"]["io.modelcontextprotocol/logLevel"] = json!("info");
    let id = server.0.send("tools/call", params);
    let seen = server.0.until(id);
    let (answer, before) = seen.split_last().unwrap();
    assert_eq!(answer["result"]["resultType"], "complete", "{answer}");
    let logged: Vec<&Value> = before
        .iter()
        .filter(|m| m["method"] == "notifications/message")
        .collect();
    assert_eq!(logged.len(), 2, "{seen:?}");
    assert_eq!(logged[1]["params"]["data"], "Logging tool finished");
}

#[test]
fn a_question_of_a_task_that_nobody_answers_times_out_as_no() {
    let p = served();
    std::fs::write(
        p.home.path().join("policy.toml"),
        "[approvals.\"dev.pincer.conformance\"]\ndefault = \"ask\"\ntimeout_s = 2\n",
    )
    .unwrap();
    let mut server = Server::start(&p);
    let task = task_of(&server.call(
        "confirm_delete",
        json!({ "filename": "notes.txt" }),
        WITH_TASKS,
    ));
    let asked = server.poll(&task, |s| s["status"] == "input_required" || terminal(s));
    assert_eq!(asked["status"], "input_required", "{asked}");
    // Nobody answers: after the policy's 2 s the plugin hears no and the task ends.
    // (The question is withdrawn then too; this plugin ends at once, so a question
    // left listed would not be seen here.)
    let done = server.poll(&task, |s| s["status"] != "input_required");
    assert!(done.get("inputRequests").is_none(), "{done}");
    let done = server.poll(&task, terminal);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["result"]["isError"], true, "{done}");
    let text = done["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("was not deleted"), "{text}");
}
