getent group lbpair >/dev/null || groupadd -r lbpair
getent passwd lbpair >/dev/null || useradd -r -g lbpair -d /nonexistent -s /sbin/nologin -c "lbpair" lbpair
exit 0
