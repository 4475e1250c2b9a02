// The attributes on items they do not apply to.
use swoft_ws::prelude::*;

#[ws_module(path = "/e")]
pub enum EnumModule {
    A,
}

#[ws_module(path = "/f")]
pub fn fn_module() {}

#[ws_controller(prefix = "s")]
pub struct StructController;

#[ws_module(path = "/g")]
pub struct Generic<T>(T);

#[derive(Default)]
pub struct Wrapper<T>(T);

#[ws_controller(prefix = "w")]
impl<T: Default + Send + Sync + 'static> Wrapper<T> {
    #[message_mapping("go")]
    fn go() {}
}

#[derive(Default)]
pub struct Traited;
pub trait Tr {
    fn go();
}
#[ws_controller(prefix = "t")]
impl Tr for Traited {
    fn go() {}
}

fn main() {}
