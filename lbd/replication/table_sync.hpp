// Glue between the tables and the wire: journal records and resync snapshots become frames, and
// received frames are applied to the tables (as remote, so never journaled or echoed). Pure.
#pragma once

#include <string_view>

#include "common/clock.hpp"
#include "lbd/replication/conn_table.hpp"
#include "lbd/replication/wire.hpp"
#include "lbd/sticky/stick_table.hpp"

namespace lbd::repl {

/// The frame announcing a stick-table journal record of `table`: insert/refresh → Update with
/// the TTL remaining at `now` (in ms, clamped to the u32 range); erase/expire, or an insert whose
/// entry has already expired → Erase. `seq` is the record's.
Frame to_frame(const StickJournalRecord& r, std::string_view table, lb::SteadyTime now);
/// The Update that carries one entry in a full resync (`seq` 0: resync frames are not acked).
Update to_update(const StickEntryView& e, std::string_view table);
/// ConnAdd or ConnRemove for a connection-table journal record.
Frame to_frame(const ConnJournalRecord& r);
ConnAdd to_conn_add(const ConnEntry& e, std::uint64_t seq);

/// Applies a received Update / Erase to `t` (LWW, remote origin).
StickyTable::RemoteResult apply(const Update& u, StickyTable& t);
StickyTable::RemoteResult apply(const Erase& e, StickyTable& t);
/// Applies a received ConnAdd / ConnRemove to the remote side of `t`.
bool apply(const ConnAdd& a, ConnTable& t);
void apply(const ConnRemove& r, ConnTable& t);

}  // namespace lbd::repl
