# $1 == 0: erase (not upgrade)
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
  systemctl stop vrrpd.service lbd.service >/dev/null 2>&1 || :
fi
exit 0
