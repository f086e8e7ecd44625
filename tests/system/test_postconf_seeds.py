"""postconf on the configurations administrators write in ../shared/seeds:
our output must equal Debian's Postfix 3.7 output for -n, -M, -P and -F,
and the seeds' `postconf -e` recipes must edit main.cf the same way."""
import pytest

from conftest import DATA, postern, postfix_oracle, run

DEBIAN_SERVICES = (DATA / "master.cf.debian-services").read_text()

SUBMISSION_587_SEED002 = """submission inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=private/auth
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_tls_auth_only=yes
  -o milter_macro_daemon_name=ORIGINATING
"""

SUBMISSION_SMTPS_SEED004 = """submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_reject_unlisted_recipient=no
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
smtps     inet  n       -       y       -       -       smtpd
  -o syslog_name=postfix/smtps
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_reject_unlisted_recipient=no
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
"""

SUBMISSION_SEED001 = """submission inet n       -       y       -       -       smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_reject_unlisted_recipient=no
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_helo_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_recipient_restrictions=
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o milter_macro_daemon_name=ORIGINATING
"""

FILTERS_SEED001 = """smtp      inet  n       -       y       -       -       smtpd
  -o content_filter=spamassassin
spamassassin unix -     n       n       -       -       pipe
  user=debian-spamd argv=/usr/bin/spamc -f -e /usr/sbin/sendmail -oi -f ${sender} ${recipient}
smtp-amavis unix -      -       n       -       2       smtp
  -o smtp_data_done_timeout=1200
  -o smtp_send_xforward_command=yes
  -o disable_dns_lookups=yes
127.0.0.1:10025 inet n  -       n       -       -       smtpd
  -o content_filter=
  -o local_recipient_maps=
  -o relay_recipient_maps=
  -o smtpd_restriction_classes=
  -o smtpd_client_restrictions=
  -o smtpd_helo_restrictions=
  -o smtpd_sender_restrictions=
  -o smtpd_recipient_restrictions=permit_mynetworks,reject
  -o mynetworks=127.0.0.0/8
  -o strict_rfc821_envelopes=yes
policy-spf  unix  -       n       n       -       0       spawn
    user=nobody argv=/usr/bin/policyd-spf
filter    unix  -       n       n       -       -       pipe
  flags=Rq user=filter argv=/usr/local/bin/filter.sh -f ${sender} -- ${recipient}
"""

CASES = {
    "seed002-relay-and-submission": ("""myhostname = mail.example.com
mydomain = example.com
myorigin = $mydomain
inet_interfaces = all
inet_protocols = ipv4
mydestination = $myhostname, localhost.$mydomain, localhost
mynetworks = 127.0.0.0/8, 192.168.1.0/24
relayhost = [smtp.example.com]:587
home_mailbox = Maildir/
smtp_tls_security_level = encrypt
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd
smtp_sasl_security_options = noanonymous
""", SUBMISSION_587_SEED002),
    "seed004-production": ("""# Identity
myhostname = mail.example.com
mydomain = example.com
myorigin = $mydomain
inet_interfaces = all
inet_protocols = ipv4
mydestination = $myhostname, localhost.$mydomain, localhost, $mydomain
mynetworks = 127.0.0.0/8, [::1]/128
home_mailbox = Maildir/
# virtual_transport = lmtp:unix:private/dovecot-lmtp
message_size_limit = 52428800
mailbox_size_limit = 0
smtpd_banner = $myhostname ESMTP
smtpd_recipient_restrictions =
    permit_mynetworks,
    permit_sasl_authenticated,
    reject_unauth_destination,
    reject_invalid_hostname,
    reject_non_fqdn_sender,
    reject_non_fqdn_recipient,
    reject_unknown_sender_domain,
    reject_unknown_recipient_domain,
    reject_rbl_client zen.spamhaus.org
smtpd_tls_cert_file = /etc/letsencrypt/live/mail.example.com/fullchain.pem
smtpd_tls_key_file = /etc/letsencrypt/live/mail.example.com/privkey.pem
smtpd_tls_security_level = may
smtpd_tls_protocols = >=TLSv1.2
smtpd_tls_mandatory_protocols = >=TLSv1.2
smtpd_tls_loglevel = 1
smtp_tls_security_level = may
smtp_tls_protocols = >=TLSv1.2
smtp_tls_loglevel = 1
smtp_tls_CApath = /etc/ssl/certs
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_auth_enable = yes
smtpd_sasl_security_options = noanonymous
smtpd_sasl_local_domain = $myhostname
virtual_mailbox_domains = example.com, example.org, example.net
virtual_mailbox_maps = hash:/etc/postfix/vmailbox
virtual_alias_maps = hash:/etc/postfix/virtual
transport_maps = hash:/etc/postfix/transport
header_checks = regexp:/etc/postfix/header_checks
body_checks = regexp:/etc/postfix/body_checks
smtpd_client_connection_rate_limit = 30
smtpd_client_message_rate_limit = 60
smtpd_client_recipient_rate_limit = 120
smtpd_error_sleep_time = 5s
smtpd_soft_error_limit = 10
smtpd_hard_error_limit = 20
""", SUBMISSION_SMTPS_SEED004),
    "seed001-gateway": ("""myhostname = relay.example.com
mydomain = example.com
myorigin = $mydomain
inet_interfaces = all
mydestination = $myhostname, localhost.$mydomain, localhost
mynetworks = 127.0.0.0/8, 192.168.1.0/24
relayhost = [smtp.office365.com]:587
smtp_sasl_auth_enable = yes
smtp_sasl_password_maps = hash:/etc/postfix/sasl_passwd
smtp_sasl_security_options = noanonymous
smtp_sasl_tls_security_options = noanonymous
smtp_tls_security_level = encrypt
smtp_use_tls = yes
""", ""),
    "seed001-virtual-tls-sasl": ("""myhostname = mail.example.com
mydomain = example.com
myorigin = $mydomain
inet_interfaces = all
inet_protocols = all
mydestination = $myhostname, localhost.$mydomain, localhost
mynetworks = 127.0.0.0/8, 192.168.1.0/24
virtual_mailbox_domains = example.com, example.net, example.org
virtual_mailbox_base = /var/mail/vhosts
virtual_mailbox_maps = hash:/etc/postfix/vmailbox
virtual_minimum_uid = 100
virtual_uid_maps = static:5000
virtual_gid_maps = static:5000
virtual_alias_maps = hash:/etc/postfix/virtual
smtpd_tls_cert_file = /etc/letsencrypt/live/mail.example.com/fullchain.pem
smtpd_tls_key_file = /etc/letsencrypt/live/mail.example.com/privkey.pem
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_session_cache_database = btree:${data_directory}/smtpd_scache
smtp_tls_cert_file = /etc/letsencrypt/live/mail.example.com/fullchain.pem
smtp_tls_key_file = /etc/letsencrypt/live/mail.example.com/privkey.pem
smtp_tls_security_level = may
smtp_tls_loglevel = 1
smtp_tls_session_cache_database = btree:${data_directory}/smtp_scache
smtpd_tls_mandatory_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1
smtpd_tls_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1
smtp_tls_mandatory_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1
smtp_tls_protocols = !SSLv2, !SSLv3, !TLSv1, !TLSv1.1
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
smtpd_sasl_local_domain = $mydomain
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
broken_sasl_auth_clients = yes
virtual_mailbox_maps = ldap:/etc/postfix/ldap-users.cf
""", SUBMISSION_SEED001),
    "seed001-access-and-filters": ("""smtpd_relay_restrictions =
    permit_mynetworks,
    permit_sasl_authenticated,
    defer_unauth_destination
smtpd_client_restrictions =
    permit_mynetworks,
    permit_sasl_authenticated,
    reject_rbl_client zen.spamhaus.org,
    reject_rbl_client bl.spamcop.net,
    reject_unknown_client_hostname
smtpd_sender_restrictions =
    permit_mynetworks,
    permit_sasl_authenticated,
    reject_non_fqdn_sender,
    reject_unknown_sender_domain
smtpd_recipient_restrictions =
    permit_mynetworks,
    permit_sasl_authenticated,
    reject_unauth_destination,
    check_policy_service unix:private/policy-spf
smtpd_client_connection_count_limit = 10
smtpd_client_connection_rate_limit = 30
smtpd_client_message_rate_limit = 100
smtpd_recipient_limit = 50
anvil_rate_time_unit = 60s
anvil_status_update_time = 600s
mime_header_checks = regexp:/etc/postfix/mime_header_checks
body_checks = regexp:/etc/postfix/body_checks
policy-spf_time_limit = 3600s
content_filter = smtp-amavis:[127.0.0.1]:10024
default_process_limit = 100
smtp_connection_cache_destinations = example.com, example.net
smtp_connection_cache_on_demand = yes
smtp_connection_cache_time_limit = 2s
qmgr_message_active_limit = 20000
qmgr_message_recipient_limit = 20000
default_destination_concurrency_limit = 20
default_destination_recipient_limit = 50
smtp_connect_timeout = 30s
smtp_helo_timeout = 300s
debug_peer_list = example.com
debug_peer_level = 2
virtual_mailbox_domains = mysql:/etc/postfix/mysql-virtual-mailbox-domains.cf
virtual_mailbox_maps = mysql:/etc/postfix/mysql-virtual-mailbox-maps.cf
virtual_alias_maps = mysql:/etc/postfix/mysql-virtual-alias-maps.cf
""", FILTERS_SEED001),
    "seed000-high-volume": ("""default_process_limit = 100
smtp_destination_concurrency_limit = 20
smtp_destination_rate_delay = 1s
smtp_connection_cache_on_demand = yes
smtp_connection_cache_time_limit = 300s
maximal_queue_lifetime = 1d
bounce_queue_lifetime = 1d
qmgr_message_active_limit = 20000
smtp_destination_recipient_limit = 50
default_destination_recipient_limit = 50
default_destination_rate_delay = 2s
smtpd_client_connection_rate_limit = 30
smtpd_client_connection_count_limit = 10
anvil_rate_time_unit = 60s
smtpd_relay_restrictions = 
    permit_mynetworks,
    permit_sasl_authenticated,
    reject_unauth_destination
mynetworks = 127.0.0.0/8 [::1]/128
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
virtual_transport = lmtp:unix:private/dovecot-lmtp
inet_interfaces = localhost
""", ""),
}

VIEWS = [["-n"], ["-nf"], ["-M"], ["-Mf"], ["-P"], ["-F"], ["-nh"], ["-nx"],
         ["myhostname", "mydomain", "myorigin"], ["smtpd_relay_restrictions", "mynetworks"],
         ["mail_version"]]


def make_dirs(tmp_path, name, main_cf, extra_master):
    dirs = []
    for who in ("postfix", "postern"):
        d = tmp_path / name / who
        d.mkdir(parents=True)
        (d / "main.cf").write_text(main_cf)
        (d / "master.cf").write_text(DEBIAN_SERVICES + extra_master)
        dirs.append(d)
    return dirs


def output(r, d):
    return r.returncode, r.stdout.replace(str(d), "DIR")


def warnings(r, d):
    """The set of distinct warnings. Postfix reads main.cf several times and
    repeats some warnings (and reports a duplicate entry once per reading, from
    alternating lines), so only distinct texts count, and a duplicate entry is
    identified by name only."""
    out = set()
    for line in r.stderr.splitlines():
        text = line.split(": ", 1)[1].replace(str(d), "DIR")
        if "overriding earlier entry" in text:
            text = "overriding earlier entry: " + text.rsplit(": ", 1)[1].split("=")[0]
        out.add(text)
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_views_match_postfix(tmp_path, case):
    oracle = postfix_oracle("postconf")
    main_cf, extra_master = CASES[case]
    theirs_dir, ours_dir = make_dirs(tmp_path, case, main_cf, extra_master)
    for view in VIEWS:
        theirs = run([oracle, "-c", theirs_dir, *view])
        ours = run([postern("postconf"), "-c", ours_dir, *view])
        assert output(ours, ours_dir) == output(theirs, theirs_dir), view
        assert warnings(ours, ours_dir) == warnings(theirs, theirs_dir), view


# The edits the seeds tell administrators to run, in order.
SEED_EDITS = [
    ["-e", "smtpd_sasl_auth_enable = yes"], ["-e", "smtpd_sasl_type = dovecot"],
    ["-e", "smtpd_sasl_path = private/auth"], ["-e", "smtpd_tls_auth_only = yes"],
    ["-e", "smtpd_sasl_loglevel = 2"],
    ["-e", "smtpd_tls_cert_file = /etc/ssl/certs/postfix.pem"],
    ["-e", "smtpd_tls_key_file = /etc/ssl/private/postfix.key"],
    ["-e", "smtpd_tls_security_level = may"], ["-e", "smtp_tls_security_level = may"],
    ["-e", "smtpd_tls_loglevel = 2"], ["-e", "smtp_use_tls = yes"],
    ["-e", "myhostname = mail.example.com"], ["-e", "myhostname=mail.example.com"],
    ["-e", "debug_peer_list = example.com"], ["-e", "debug_peer_level = 2"],
    ["-e", "debug_peer_list ="], ["-e", "always_add_missing_headers = yes"],
    ["-e", "mynetworks = 127.0.0.0/8 192.168.1.0/24"],
    ["-e", "default_destination_concurrency_limit = 20"],
    ["-e", "smtp_destination_concurrency_limit = 10"],
    ["-e", "minimal_backoff_time = 300s"], ["-e", "maximal_backoff_time = 4000s"],
    ["-e", "content_filter = smtp-amavis:[127.0.0.1]:10024"],
    ["-e", "relayhost = [smtp.gmail.com]:587"], ["-e", "smtp_sasl_auth_enable = yes"],
]


def test_seed_edit_recipes_match_postfix(tmp_path):
    oracle = postfix_oracle("postconf")
    start = "# Debian-like main.cf\nmyhostname = old.example\n\nsmtpd_banner = $myhostname ESMTP\n"
    theirs_dir, ours_dir = make_dirs(tmp_path, "edits", start, "")
    for edit in SEED_EDITS:
        t = run([oracle, "-c", theirs_dir, *edit])
        o = run([postern("postconf"), "-c", ours_dir, *edit])
        assert o.returncode == t.returncode, edit
        assert (ours_dir / "main.cf").read_text() == (theirs_dir / "main.cf").read_text(), edit


def test_seed_multiline_edit_is_joined(tmp_path):
    # Seed 000 quotes a backslash-newline into the value; Postfix refuses
    # multi-line input, Postern joins the lines as the shell would have.
    d = tmp_path / "etc"
    d.mkdir()
    (d / "main.cf").write_text("")
    r = run([postern("postconf"), "-c", d, "-e",
             "sender_dependent_relayhost_maps = \\\n    hash:/etc/postfix/sender_relay"])
    assert r.returncode == 0, r.stderr
    assert (d / "main.cf").read_text() == "sender_dependent_relayhost_maps = hash:/etc/postfix/sender_relay\n"
    r = run([postern("postconf"), "-c", d, "-e", "a = x\ny"])
    assert r.returncode == 1
    assert "accepts no multi-line input" in r.stderr
