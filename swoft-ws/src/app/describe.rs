//! [`App::describe`](crate::App::describe): the typed contract of the app's modules, read from
//! the macros' records (routes with their [`RouteContract`](crate::contract::RouteContract),
//! declared pushes).

use crate::app::registry::paths;
use crate::app::registry::{ModuleDef, PushDef, full_command, registered_pushes};
use crate::config::Recovery;
use crate::contract::{
    CommandDescription, Description, ModuleDescription, PushDescription, RecoveryDescription,
    SchemaGen, Shape, TypeInfo, Variable, short_type_name,
};

/// The description of `modules` (sorted by path, as the app serves them), each with its
/// resolved recovery settings, and of the pushes declared for them; one schema generator for
/// all, so named types are written once.
pub(crate) fn describe(modules: &[(&'static ModuleDef, Option<Recovery>)]) -> Description {
    let mut sorted = modules.to_vec();
    sorted.sort_by_key(|(m, _)| (paths::normal(m.path), m.location));
    let pushes = registered_pushes();
    let mut schemas = SchemaGen::new();
    let modules = sorted
        .iter()
        .map(|(m, recovery)| {
            let mut d = module(m, &pushes, &mut schemas);
            d.recovery = recovery.map(|r| RecoveryDescription {
                window_ms: u64::try_from(r.window.as_millis()).unwrap_or(u64::MAX),
                max_messages: r.max_messages,
                max_bytes: r.max_bytes,
            });
            d
        })
        .collect();
    Description {
        modules,
        schemas: schemas.into_definitions(),
    }
}

fn module(m: &ModuleDef, pushes: &[&PushDef], schemas: &mut SchemaGen) -> ModuleDescription {
    let parser = (m.parser)().name();
    let path = paths::normal(m.path).into_owned();
    let variables = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| Variable {
            name: name.to_owned(),
            pattern: m
                .params
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, re)| (*re).to_owned()),
        })
        .collect();
    let mut commands: Vec<CommandDescription> = m
        .controllers
        .iter()
        .flat_map(|c| c.routes.iter().map(move |r| (c, r)))
        .map(|(c, r)| {
            let mut errors: Vec<String> =
                r.contract.errors.iter().map(|e| (*e).to_owned()).collect();
            errors.sort_unstable();
            errors.dedup();
            CommandDescription {
                command: full_command(c.prefix, r),
                payload: shape((r.contract.payload)(), schemas),
                reply: shape((r.contract.reply)(), schemas),
                errors,
            }
        })
        .collect();
    commands.sort_by(|a, b| a.command.cmp(&b.command));
    let own = (m.type_id)();
    let mut declared: Vec<PushDescription> = pushes
        .iter()
        .filter(|p| p.module.map_or(parser == "json", |id| id() == own))
        .flat_map(|p| {
            let payload = shape((p.payload)(), schemas);
            let reply = p.reply.and_then(|r| shape(r(), schemas));
            p.commands.iter().filter_map(move |c| {
                Some(PushDescription {
                    command: (*c).to_owned(),
                    payload: payload.clone()?,
                    reply: reply.clone(),
                })
            })
        })
        .collect();
    declared.sort_by(|a, b| a.command.cmp(&b.command));
    ModuleDescription {
        name: m.label.unwrap_or(m.name).to_owned(),
        type_name: m.name.to_owned(),
        path,
        variables,
        parser: parser.to_owned(),
        commands,
        pushes: declared,
        recovery: None,
    }
}

fn shape(t: Option<TypeInfo>, schemas: &mut SchemaGen) -> Option<Shape> {
    t.map(|t| Shape {
        name: short_type_name(t.name),
        schema: t.schema.map(|f| f(schemas)),
    })
}
