chown root:lbpair /etc/lbpair /etc/lbpair/lbd.toml /etc/lbpair/vrrpd.toml
chmod 0750 /etc/lbpair
if [ -d /run/systemd/system ]; then systemctl daemon-reload >/dev/null 2>&1 || :; fi
exit 0
