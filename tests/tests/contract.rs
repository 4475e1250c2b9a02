//! The typed contract (`App::describe`, issue 17): what the macros record about commands,
//! payloads, replies, errors and pushes, and the chat example's generated AsyncAPI document and
//! TypeScript module, compared with the committed golden files in `examples/chat/contract/`.
//!
//! A changed payload type without regenerated files fails here, naming the command that
//! regenerates them (`swoft_ws_examples::chat::REGENERATE`). The node side
//! (`clients/typescript`) then checks that the document passes `@asyncapi/parser` and that a
//! usage file calling every command compiles against the TypeScript module.

use std::path::Path;

use serde_json::json;
use swoft_ws_examples::chat;

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/chat/contract")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_same(name: &str, generated: &str) {
    let committed = golden(name);
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || "at the end".to_owned(),
                |i| format!("first at line {}", i + 1),
            );
        panic!(
            "examples/chat/contract/{name} is not what the chat app generates ({line}); regenerate it from the workspace root with:\n  {}",
            chat::REGENERATE
        );
    }
}

#[test]
fn the_chat_examples_asyncapi_document_and_typescript_module_match_the_committed_ones() {
    let app = chat::builder().build().unwrap();
    assert_same("chat.asyncapi.json", &chat::asyncapi(&app));
    assert_same("chat.ts", &chat::typescript(&app));
}

#[test]
fn describe_lists_modules_commands_payloads_replies_errors_and_pushes() {
    let app = chat::builder().build().unwrap();
    let d = app.describe();
    let paths: Vec<&str> = d.modules.iter().map(|m| m.path.as_str()).collect();
    assert_eq!(paths, ["/chat", "/echo", "/raw"]);

    let chat = &d.modules[0];
    assert_eq!(
        (chat.name.as_str(), chat.parser.as_str()),
        ("ChatModule", "json")
    );
    let send = chat
        .commands
        .iter()
        .find(|c| c.command == "room.send")
        .unwrap();
    assert_eq!(send.payload.as_ref().unwrap().name, "SendArg");
    assert_eq!(
        send.payload.as_ref().unwrap().schema,
        Some(json!({"$ref": "#/components/schemas/SendArg"}))
    );
    assert_eq!(send.reply.as_ref().unwrap().name, "Delivered");
    assert_eq!(send.errors, ["forbidden"]);
    let pushes: Vec<(&str, &str, Option<&str>)> = chat
        .pushes
        .iter()
        .map(|p| {
            let reply = p.reply.as_ref().map(|r| r.name.as_str());
            (p.command.as_str(), p.payload.name.as_str(), reply)
        })
        .collect();
    assert_eq!(
        pushes,
        [
            ("chat.whisper", "Whisper", None),
            // `reply = PollAnswer`: a request the server asks clients with.
            ("poll.ask", "PollAsk", Some("PollAnswer")),
            ("room.joined", "Presence", None),
            ("room.left", "Presence", None),
            ("room.message", "RoomMessage", None),
        ]
    );
    let poll = chat
        .commands
        .iter()
        .find(|c| c.command == "room.poll")
        .unwrap();
    assert_eq!(poll.reply.as_ref().unwrap().name, "PollResult");
    assert_eq!(
        d.schemas["SendArg"]["required"],
        json!(["room", "text"]),
        "{:#}",
        d.schemas["SendArg"]
    );

    // `Data<&RawValue>` → `&RawValue`: no JsonSchema impl, so "any" (named, no schema).
    let echo = &d.modules[1].commands[0];
    assert_eq!(echo.command, "echo.send");
    assert_eq!(echo.payload.as_ref().unwrap().schema, None);
    assert_eq!(echo.reply.as_ref().unwrap().schema, None);
    // The raw module serves no commands.
    assert!(d.modules[2].commands.is_empty());

    // `/chat` keeps sessions (`#[ws_module(recovery(window_secs = 120, ..))]`), the others not.
    assert_eq!(
        chat.recovery,
        Some(swoft_ws::contract::RecoveryDescription {
            window_ms: 120_000,
            max_messages: 500,
            max_bytes: 524_288,
        })
    );
    assert!(d.modules[1].recovery.is_none() && d.modules[2].recovery.is_none());
}

#[test]
fn the_chat_contract_states_chats_resumable_sessions() {
    let app = chat::builder().build().unwrap();
    let doc: serde_json::Value = serde_json::from_str(&chat::asyncapi(&app)).unwrap();
    let chan = &doc["channels"]["ChatModule"];
    let query = &chan["bindings"]["ws"]["query"]["properties"];
    assert!(
        query["resume"].is_object() && query["off"].is_object(),
        "{chan:#}"
    );
    assert_eq!(doc["operations"]["ChatModule._session"]["action"], "send");
    let data = &chan["messages"]["session"]["payload"]["properties"]["data"];
    assert_eq!(
        data["properties"]["reason"]["enum"],
        json!(["unknown", "expired", "evicted"])
    );
    for (key, m) in chan["messages"].as_object().unwrap() {
        let required = &m["payload"]["required"];
        let off = required.as_array().unwrap().contains(&json!("off"));
        assert_eq!(off, key.ends_with(".push"), "{key}: {required}");
    }
    // /echo keeps none.
    assert!(doc["channels"]["EchoModule"]["bindings"].is_null());

    let ts = chat::typescript(&app);
    assert!(ts.contains("export interface SessionInfo {"), "{ts}");
    assert!(
        ts.contains("export const chatRecovery = { resumable: true, windowMs: 120000,"),
        "{ts}"
    );
    assert!(!ts.contains("echoRecovery"), "{ts}");
}
