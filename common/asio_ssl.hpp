// The one include of Boost.Asio's SSL layer (OpenSSL). Only .cpp files of the TLS code include
// this; headers that other code includes never do (it pulls in every OpenSSL header).
#pragma once

#include "common/asio.hpp"

#include <boost/asio/ssl.hpp>
