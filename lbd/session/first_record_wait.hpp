// Waiting for a TLS client's whole first record (its ClientHello) in the socket's receive queue
// before a session spends memory on it: a TLS stream costs ~85 KiB from its creation, an
// SNI-routing read a buffer, while bytes still in the kernel cost lbd nothing.
#pragma once

#include "common/asio.hpp"

namespace lbd::proxy {

/// Waits, without reading, until `socket`'s receive queue holds the client's first TLS record
/// whole. The record's size comes from its header, peeked (MSG_PEEK); SO_RCVLOWAT set to that
/// size makes the kernel report the socket readable only once that many bytes are queued, so a
/// client that stalls mid-record costs a pending wait and no CPU (Linux tcp_poll honours it, also
/// for the EPOLL_CTL_MOD with which Asio arms each wait).
///
/// Returns no error when the caller should go on and read: the record is complete, the first
/// bytes are not a TLS handshake record (first_record_need: the caller's usual path refuses
/// them as before), or a wake-up brought no new bytes (the client closed, the socket failed,
/// memory pressure): the caller's reads then see what there is. The wait re-arms only after the
/// queue grew, so it cannot spin. An error when a wait failed: the caller's deadline cancelled
/// it (operation_aborted), or the socket is closed. SO_RCVLOWAT is 1 again when this returns.
/// No deadline of its own: the caller bounds it (SocketDeadline). On the socket's executor.
lb::awaitable<lb::error_code> wait_for_first_record(lb::tcp::socket& socket);

}  // namespace lbd::proxy
