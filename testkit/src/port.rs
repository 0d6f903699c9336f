//! Picking a free port on the loopback interface.

use std::net::{Ipv4Addr, TcpListener};

use crate::Error;

/// Returns a TCP port of 127.0.0.1 that is free at the time of the call.
///
/// The operating system picks the port for a listener bound to port 0, and
/// the listener is closed before returning, so another process may take the
/// port before the server does: [`Server::start_on_free_port`] retries with a
/// new port when that happens.
///
/// [`Server::start_on_free_port`]: crate::Server::start_on_free_port
pub fn free_port() -> Result<u16, Error> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|source| Error::Port { source })?;
    let address = listener
        .local_addr()
        .map_err(|source| Error::Port { source })?;
    Ok(address.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_port_can_be_bound() -> Result<(), Box<dyn std::error::Error>> {
        let port = free_port()?;
        assert_ne!(port, 0);
        TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        Ok(())
    }
}
