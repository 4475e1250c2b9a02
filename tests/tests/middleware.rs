//! Message middleware: every level (global, module, controller, method), their order,
//! short-circuiting, running after the handler, handing data to the handler; state and session
//! extraction; and per-module concurrency.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use swoft_ws::middleware::{BoxFuture, Middleware, Next};
use swoft_ws::prelude::*;
use swoft_ws_tests::TestServer;

/// Where every middleware writes what it saw, in order.
#[derive(Default)]
struct Trace(Mutex<Vec<String>>);

fn trace(cx: &Context, what: String) {
    cx.server()
        .state::<Trace>()
        .expect("Trace state")
        .0
        .lock()
        .unwrap()
        .push(what);
}

fn take_trace(server: &Server) -> Vec<String> {
    std::mem::take(&mut *server.state::<Trace>().unwrap().0.lock().unwrap())
}

/// Records "NAME>" before and "<NAME" after the rest of the chain.
macro_rules! recording {
    ($name:ident) => {
        #[derive(Default)]
        pub struct $name;
        impl Middleware for $name {
            fn call<'a>(&'a self, cx: &'a Context, next: Next<'a>) -> BoxFuture<'a, Reply> {
                Box::pin(async move {
                    trace(cx, format!("{}>", stringify!($name)));
                    let reply = next.run(cx).await;
                    trace(cx, format!("<{}", stringify!($name)));
                    reply
                })
            }
        }
    };
}

recording!(Global);
recording!(ModuleMw);
recording!(ControllerMw);
recording!(MethodMw);

/// Refuses `guarded.*` commands unless the message's `ext` carries `{"token": "ok"}`, and
/// hands the caller's role to the handler.
#[derive(Default)]
pub struct Auth;

#[derive(Clone, Debug, PartialEq)]
struct Role(String);

impl Middleware for Auth {
    fn call<'a>(&'a self, cx: &'a Context, next: Next<'a>) -> BoxFuture<'a, Reply> {
        Box::pin(async move {
            let token: Option<Value> = cx.ext().and_then(|e| serde_json::from_str(e).ok());
            if token.as_ref().and_then(|t| t.get("token")) != Some(&json!("ok")) {
                trace(cx, "Auth refused".to_owned());
                return Reply::Error(WsError::forbidden("token required"));
            }
            cx.insert(Role("admin".to_owned()));
            next.run(cx).await
        })
    }
}

#[ws_module(path = "/mw", controllers = [MwController, GuardedController], middleware = [ModuleMw])]
pub struct MwModule;

#[derive(Default)]
pub struct MwController;

#[ws_controller(prefix = "mw", middleware = [ControllerMw])]
impl MwController {
    #[message_mapping("plain")]
    fn plain(cx: &Context) -> &'static str {
        trace(cx, "handler".to_owned());
        "ok"
    }

    #[message_mapping("marked")]
    #[middleware(MethodMw)]
    fn marked(cx: &Context) -> &'static str {
        trace(cx, "handler".to_owned());
        "ok"
    }

    #[message_mapping("state")]
    fn state(State(counter): State<AtomicUsize>, Session(user): Session<String>) -> Value {
        json!({"n": counter.fetch_add(1, Ordering::SeqCst) + 1, "user": user})
    }
}

#[derive(Default)]
pub struct GuardedController;

#[ws_controller(prefix = "guarded", middleware = [Auth])]
impl GuardedController {
    #[message_mapping("secret")]
    fn secret(Extension(role): Extension<Role>) -> Value {
        json!({"role": role.0})
    }
}

#[ws_module]
impl MwModule {
    #[on_handshake]
    fn handshake(&self) -> Accept {
        Accept::new().with("alice".to_owned())
    }
}

fn app() -> App {
    App::builder()
        .module::<MwModule>()
        .module::<SlowModule>()
        .module::<OrderedModule>()
        .middleware(Global)
        .state(Trace::default())
        .state(AtomicUsize::new(0))
        .build()
        .unwrap()
}

#[tokio::test]
async fn middleware_runs_global_then_module_then_controller_then_method_and_unwinds_in_reverse() {
    let server = TestServer::start(app()).await;
    let mut c = server.connect("/mw").await.unwrap();
    let r = c.request("mw.marked", json!(null)).await;
    assert_eq!(r["data"], "ok");
    assert_eq!(
        take_trace(server.server()),
        [
            "Global>",
            "ModuleMw>",
            "ControllerMw>",
            "MethodMw>",
            "handler",
            "<MethodMw",
            "<ControllerMw",
            "<ModuleMw",
            "<Global"
        ]
    );
    // Method middleware applies to its method only.
    c.request("mw.plain", json!(null)).await;
    assert_eq!(
        take_trace(server.server()),
        [
            "Global>",
            "ModuleMw>",
            "ControllerMw>",
            "handler",
            "<ControllerMw",
            "<ModuleMw",
            "<Global"
        ]
    );
}

#[tokio::test]
async fn global_and_module_middleware_see_unknown_commands_and_bad_frames() {
    let server = TestServer::start(app()).await;
    let mut c = server.connect("/mw").await.unwrap();
    let r = c.request("mw.nope", json!(null)).await;
    assert_eq!(r["error"]["code"], "unknown_command");
    assert_eq!(
        take_trace(server.server()),
        ["Global>", "ModuleMw>", "<ModuleMw", "<Global"]
    );
    c.send_text("not json").await;
    assert_eq!(c.recv_json().await["error"]["code"], "bad_message");
    assert_eq!(take_trace(server.server()).len(), 4);
}

#[tokio::test]
async fn middleware_short_circuits_and_hands_data_to_the_handler() {
    let server = TestServer::start(app()).await;
    let mut c = server.connect("/mw").await.unwrap();
    let refused = c.request("guarded.secret", json!(null)).await;
    assert_eq!(refused["error"]["code"], "forbidden");
    let trace = take_trace(server.server());
    assert!(trace.contains(&"Auth refused".to_owned()), "{trace:?}");

    c.send_json(&json!({"cmd": "guarded.secret", "ext": {"token": "ok"}, "id": 5}))
        .await;
    let ok = c.reply_to(&json!(5)).await;
    assert_eq!(ok["data"], json!({"role": "admin"}));
}

#[tokio::test]
async fn state_and_session_data_are_extracted_by_type() {
    let server = TestServer::start(app()).await;
    let mut c = server.connect("/mw").await.unwrap();
    assert_eq!(
        c.request("mw.state", json!(null)).await["data"],
        json!({"n": 1, "user": "alice"})
    );
    assert_eq!(c.request("mw.state", json!(null)).await["data"]["n"], 2);
}

/// Counts how many of its messages run at once, and the most ever seen.
#[derive(Default)]
struct Gauge {
    now: AtomicUsize,
    max: AtomicUsize,
}

async fn measured(gauge: &Gauge, ms: u64) {
    let now = gauge.now.fetch_add(1, Ordering::SeqCst) + 1;
    gauge.max.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    gauge.now.fetch_sub(1, Ordering::SeqCst);
}

#[ws_module(path = "/slow", controllers = [SlowController], concurrency = 4)]
pub struct SlowModule;

#[ws_module(path = "/ordered", controllers = [SlowController])]
pub struct OrderedModule;

#[derive(Default)]
pub struct SlowController {
    gauge: Arc<Gauge>,
}

#[ws_controller(prefix = "slow")]
impl SlowController {
    #[message_mapping("work")]
    async fn work(&self, Data(ms): Data<u64>) -> usize {
        measured(&self.gauge, ms).await;
        self.gauge.max.load(Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_module_with_concurrency_handles_up_to_n_messages_of_one_connection_at_once() {
    let app = App::builder()
        .module::<SlowModule>()
        .instance(SlowController::default())
        .build()
        .unwrap();
    let server = TestServer::start(app).await;
    let mut c = server.connect("/slow").await.unwrap();
    for i in 0..12 {
        c.send_json(&json!({"cmd": "slow.work", "data": 30, "id": i}))
            .await;
    }
    let mut max = 0;
    for i in 0..12 {
        max = max.max(c.reply_to(&json!(i)).await["data"].as_u64().unwrap());
    }
    assert_eq!(max, 4, "never more than 4 at once, and 4 were reached");
    c.close(1000, "").await;
    server.wait_idle().await;
}

#[tokio::test]
async fn by_default_messages_of_one_connection_are_handled_one_at_a_time_in_order() {
    let app = App::builder()
        .module::<OrderedModule>()
        .instance(SlowController::default())
        .build()
        .unwrap();
    let server = TestServer::start(app).await;
    let mut c = server.connect("/ordered").await.unwrap();
    for i in 0..6 {
        c.send_json(&json!({"cmd": "slow.work", "data": 5 - i, "id": i}))
            .await;
    }
    for i in 0..6 {
        let r = c.recv_json().await;
        assert_eq!(r["id"], i, "replies come in the order sent");
        assert_eq!(r["data"], 1);
    }
}
