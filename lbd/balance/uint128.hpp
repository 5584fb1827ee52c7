// A 128-bit unsigned integer for exact 64×64-bit products (multiply-shift ranges, load bounds).
#pragma once

namespace lbd {

// __extension__ keeps -Wpedantic quiet about the GCC/Clang builtin type.
__extension__ typedef unsigned __int128 u128;

}  // namespace lbd
