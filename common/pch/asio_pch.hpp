// The precompiled header of the targets whose sources use Boost.Asio (common/pch/precompile.cmake
// gives it only to those sources): Asio, spdlog and fmt take ~2.5 s to parse in every such TU.
// Never include this file from code; it adds nothing a source does not include itself.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "common/asio.hpp"
