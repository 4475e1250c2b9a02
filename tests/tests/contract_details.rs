//! `App::describe` on what the chat app does not have (issue 17): path variables, handlers
//! without a payload or a reply, `Result<(), E>`, an `Option<Data<T>>` payload, declared error
//! codes, a push declared without a module (listed for every JSON module), a server request
//! whose answer has no schema, a module without resumable sessions and the same module given
//! them by the builder. A test binary of its own: its pushes would otherwise join the
//! chat app's contract in `contract.rs`.

use serde_json::json;
use swoft_ws::prelude::*;

#[ws_module(path = "/rooms/{id}", params(id = r"\d+"), controllers = [Probe])]
pub struct RoomsModule;

#[derive(Default)]
pub struct Probe;

#[derive(serde::Deserialize, serde::Serialize, swoft_ws::schemars::JsonSchema)]
#[schemars(crate = "swoft_ws::schemars")]
pub struct Note {
    text: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[push("note.added")]
#[derive(serde::Serialize, swoft_ws::schemars::JsonSchema)]
#[schemars(crate = "swoft_ws::schemars")]
pub struct Added {
    n: u32,
}

/// A request to clients (under two commands) whose answer has no schema: a `Vec` of a type
/// without a `JsonSchema` impl.
#[push("note.confirm", "note.review", reply = Vec<Opaque>)]
#[derive(serde::Serialize, swoft_ws::schemars::JsonSchema)]
#[schemars(crate = "swoft_ws::schemars")]
pub struct Confirm<'a> {
    text: &'a str,
}

/// No `JsonSchema`: "any".
#[derive(serde::Deserialize)]
pub struct Opaque;

#[ws_controller(prefix = "note")]
impl Probe {
    #[message_mapping]
    fn ping() {}

    #[message_mapping("add", errors = ["full", "not_found"])]
    fn add(Data(note): Data<Note>) -> Result<(), WsError> {
        let _ = note;
        Ok(())
    }

    #[message_mapping("maybe")]
    fn maybe(note: Option<Data<Note>>) -> Option<Note> {
        note.map(|Data(n)| n)
    }
}

#[test]
fn describe_covers_path_variables_missing_payloads_and_replies_and_pushes_for_every_module() {
    let app = App::builder().module::<RoomsModule>().build().unwrap();
    let d = app.describe();
    let m = &d.modules[0];
    assert_eq!(m.path, "/rooms/{id}");
    assert_eq!(m.variables[0].name, "id");
    assert_eq!(m.variables[0].pattern.as_deref(), Some(r"\d+"));
    let by = |c: &str| m.commands.iter().find(|x| x.command == c).unwrap();
    assert!(by("note.ping").payload.is_none() && by("note.ping").reply.is_none());
    assert!(
        by("note.add").reply.is_none(),
        "Result<(), E> answers nothing"
    );
    assert_eq!(by("note.add").errors, ["full", "not_found"]);
    assert_eq!(by("note.maybe").payload.as_ref().unwrap().name, "Note");
    assert_eq!(
        by("note.maybe").reply.as_ref().unwrap().name,
        "Option<Note>"
    );
    assert_eq!(m.pushes[0].command, "note.added");
    assert!(m.pushes[0].reply.is_none());
    let confirm = &m.pushes[1];
    assert_eq!(confirm.command, "note.confirm");
    assert_eq!(confirm.payload.name, "Confirm");
    let reply = confirm.reply.as_ref().unwrap();
    assert_eq!(reply.name, "Vec<Opaque>");
    assert_eq!(reply.schema, None, "Opaque has no schema");
    assert_eq!(m.pushes[2].command, "note.review");
    assert_eq!(d.schemas["Note"]["required"], json!(["text"]));

    let doc = d.to_asyncapi("t", "1");
    assert_eq!(doc["channels"]["RoomsModule"]["address"], "/rooms/{id}");
    assert!(doc["channels"]["RoomsModule"]["parameters"]["id"].is_object());
    let ask = &doc["operations"]["RoomsModule.note.confirm.ask"];
    assert_eq!(ask["action"], "send");
    assert_eq!(
        ask["reply"]["messages"],
        json!([
            {"$ref": "#/channels/RoomsModule/messages/note.confirm.answer"},
            {"$ref": "#/channels/RoomsModule/messages/note.confirm.refusal"},
        ])
    );
    assert!(doc["operations"]["RoomsModule.note.confirm.push"].is_null());
    let answer = &doc["channels"]["RoomsModule"]["messages"]["note.confirm.answer"]["payload"];
    assert_eq!(answer["required"], json!(["cmd", "data", "ack"]));
    assert_eq!(answer["properties"]["cmd"]["const"], "$ack");
    let ts = d.to_typescript(&Default::default());
    assert!(
        ts.contains("ping: (): void => client.send(\"note.ping\", undefined),"),
        "{ts}"
    );
    assert!(ts.contains("tags?: string[];"), "{ts}");
    assert!(
        ts.contains("  \"note.confirm\": { data: Confirm; reply: any };"),
        "{ts}"
    );
    assert!(
        ts.contains("handle<K extends keyof RoomsRequests>("),
        "{ts}"
    );
}

#[test]
fn a_module_without_recovery_has_no_session_frame_offsets_or_resume_query() {
    let app = App::builder().module::<RoomsModule>().build().unwrap();
    let d = app.describe();
    assert_eq!(d.modules[0].recovery, None);
    let doc = d.to_asyncapi("t", "1");
    let chan = &doc["channels"]["RoomsModule"];
    assert!(chan["bindings"].is_null() && chan["messages"]["session"].is_null());
    assert!(doc["operations"]["RoomsModule._session"].is_null());
    let push = &chan["messages"]["note.added.push"]["payload"];
    assert_eq!(push["required"], json!(["cmd", "data"]));
    let ts = d.to_typescript(&Default::default());
    assert!(
        ts.contains("import type { Client, RequestOptions } from \"swoft-ws-client\";"),
        "{ts}"
    );
    for absent in ["SessionInfo", "ResumeReason", "onResumed", "Recovery"] {
        assert!(!ts.contains(absent), "{absent} in {ts}");
    }
}

/// Recovery given by the builder, with bounds the app clamps: the contract states the
/// resolved ones (`max_messages` at most the outbound queue's frames less 8).
#[test]
fn recovery_set_by_the_builder_is_described_with_the_bounds_the_app_resolved() {
    use std::time::Duration;
    use swoft_ws::config::{ModuleLimits, Recovery};
    use swoft_ws::contract::RecoveryDescription;

    let recovery = Recovery::DEFAULT
        .window(Duration::from_secs(30))
        .max_messages(5000)
        .max_bytes(4096);
    let app = App::builder()
        .module::<RoomsModule>()
        .outbound_queue(100)
        .module_limits::<RoomsModule>(ModuleLimits::NONE.recovery(recovery))
        .build()
        .unwrap();
    let d = app.describe();
    assert_eq!(
        d.modules[0].recovery,
        Some(RecoveryDescription {
            window_ms: 30_000,
            max_messages: 92,
            max_bytes: 4096,
        })
    );

    let doc = d.to_asyncapi("t", "1");
    let chan = &doc["channels"]["RoomsModule"];
    let query = &chan["bindings"]["ws"]["query"];
    assert_eq!(query["type"], "object");
    assert_eq!(query["properties"]["resume"]["type"], "string");
    assert_eq!(query["properties"]["off"]["type"], "string");
    assert!(
        chan["description"].as_str().unwrap().contains("30000 ms"),
        "{:#}",
        chan["description"]
    );
    let session = &doc["operations"]["RoomsModule._session"];
    assert_eq!(session["action"], "send");
    assert_eq!(
        session["messages"],
        json!([{"$ref": "#/channels/RoomsModule/messages/session"}])
    );
    let frame = &chan["messages"]["session"]["payload"];
    assert_eq!(frame["properties"]["cmd"]["const"], "$session");
    let data = &frame["properties"]["data"];
    assert_eq!(data["required"], json!(["token", "resumed"]));
    assert_eq!(
        data["properties"]["reason"]["enum"],
        json!(swoft_ws::contract::RESUME_REASONS)
    );
    assert_eq!(data["properties"]["replayed"]["type"], "integer");
    // Every push carries its offset; a server request (`ack`) and the replies do not.
    let push = &chan["messages"]["note.added.push"]["payload"];
    assert_eq!(push["required"], json!(["cmd", "data", "off"]));
    assert_eq!(push["properties"]["off"]["type"], "string");
    let ask = &chan["messages"]["note.confirm.ask"]["payload"];
    assert!(ask["properties"]["off"].is_null(), "{ask:#}");
    let reply = &chan["messages"]["note.maybe.reply"]["payload"];
    assert!(reply["properties"]["off"].is_null(), "{reply:#}");

    let ts = d.to_typescript(&Default::default());
    for line in [
        "import type { Client, RequestOptions, ResumeOutcome } from \"swoft-ws-client\";",
        "export type ResumeReason = \"unknown\" | \"expired\" | \"evicted\";",
        "export interface SessionInfo {",
        "  reason?: ResumeReason;",
        "  | { resumed: false; reason: ResumeReason };",
        "export const roomsRecovery = { resumable: true, windowMs: 30000, maxMessages: 92, maxBytes: 4096 } as const;",
        "    onResumed(listener: (outcome: SessionOutcome) => void): () => void {",
        "    recovery: roomsRecovery,",
    ] {
        assert!(ts.contains(line), "no `{line}` in:\n{ts}");
    }
}
