# Turns lbd/admin/status_page.html into a C++ source defining lbd::admin::kStatusPageHtml, so the
# page stays an editable HTML file. Usage: cmake -DIN=<html> -DOUT=<cpp> -P embed_status_page.cmake
file(READ "${IN}" html)
string(FIND "${html}" ")lbpair_html\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )lbpair_html\"")
endif()
file(WRITE "${OUT}.tmp" "// Generated from lbd/admin/status_page.html by embed_status_page.cmake; do not edit.\n"
  "#include \"lbd/admin/admin_server.hpp\"\n\n"
  "namespace lbd::admin {\n"
  "const std::string_view kStatusPageHtml = R\"lbpair_html(${html})lbpair_html\";\n"
  "}  // namespace lbd::admin\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
