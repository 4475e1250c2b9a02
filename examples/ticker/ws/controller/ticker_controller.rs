//! `ticker.*`: subscribe, unsubscribe, list.

use serde::{Deserialize, Serialize};
use swoft_ws::prelude::*;

use crate::ws::ticker_module::{SYMBOLS, room_of};

/// Subscriptions of a `/ticker` connection.
#[derive(Debug, Default)]
pub(crate) struct TickerController;

/// `{"symbol": S}`.
#[derive(Debug, Deserialize)]
pub(crate) struct SymbolArg {
    symbol: String,
}

/// `{"symbol": S, "subscribed": bool}`: whether the connection now follows S.
#[derive(Debug, Serialize)]
pub(crate) struct Subscription {
    symbol: String,
    subscribed: bool,
}

/// `{"symbols": [...], "subscribed": [...]}`.
#[derive(Debug, Serialize)]
pub(crate) struct Listing {
    symbols: Vec<&'static str>,
    subscribed: Vec<&'static str>,
}

fn known(symbol: &str) -> Result<&'static str, WsError> {
    SYMBOLS
        .iter()
        .map(|(s, _)| *s)
        .find(|s| *s == symbol)
        .ok_or_else(|| WsError::not_found(format!("no symbol `{symbol}`")))
}

#[ws_controller(prefix = "ticker")]
impl TickerController {
    /// `ticker.subscribe {"symbol": S}` → `{"symbol": S, "subscribed": true}`, then
    /// `ticker.tick` pushes for S. Unknown symbol → `not_found`; subscribing twice is harmless.
    #[message_mapping("subscribe")]
    fn subscribe(Data(arg): Data<SymbolArg>, conn: &Connection) -> Result<Subscription, WsError> {
        let symbol = known(&arg.symbol)?;
        conn.join(&room_of(symbol))?;
        Ok(Subscription {
            symbol: arg.symbol,
            subscribed: true,
        })
    }

    /// `ticker.unsubscribe {"symbol": S}` → `{"symbol": S, "subscribed": false}`; no tick of S
    /// follows this reply.
    #[message_mapping("unsubscribe")]
    fn unsubscribe(Data(arg): Data<SymbolArg>, conn: &Connection) -> Result<Subscription, WsError> {
        let symbol = known(&arg.symbol)?;
        conn.leave(&room_of(symbol));
        Ok(Subscription {
            symbol: arg.symbol,
            subscribed: false,
        })
    }

    /// `ticker.list` → `{"symbols": [every symbol], "subscribed": [this connection's]}`.
    #[message_mapping("list")]
    fn list(conn: &Connection) -> Listing {
        let symbols: Vec<&'static str> = SYMBOLS.iter().map(|(s, _)| *s).collect();
        let subscribed = symbols
            .iter()
            .copied()
            .filter(|s| conn.server().rooms().contains(&room_of(s), conn.fd()))
            .collect();
        Listing {
            symbols,
            subscribed,
        }
    }
}
