if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || :
  # $1 >= 1: upgrade; restart what was running.
  if [ "$1" -ge 1 ]; then systemctl try-restart lbd.service vrrpd.service >/dev/null 2>&1 || :; fi
fi
exit 0
