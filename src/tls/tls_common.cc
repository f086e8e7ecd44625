#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <csignal>

#include <memory>

#include <fmt/format.h>

#include "global/config.h"
#include "tls/tls_internal.h"
#include "util/log.h"
#include "util/strings.h"

namespace postern::tls {

std::string openssl_errors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out;
}

std::string Info::trust() const {
  if (!peer_has_cert) return "Anonymous";
  if (peer_matched) return "Verified";
  return peer_trusted ? "Trusted" : "Untrusted";
}

std::string summary_line(const Info& info, bool server, const Peer& peer) {
  std::string where = fmt::format("{}[{}]", peer.name.empty() ? "unknown" : peer.name, peer.addr);
  if (!server && peer.port) where += fmt::format(":{}", peer.port);
  std::string line =
      fmt::format("{} TLS connection established {} {}: {} with cipher {} ({}/{} bits)",
                  info.trust(), server ? "from" : "to", where, info.protocol, info.cipher,
                  info.cipher_bits, info.cipher_alg_bits);
  if (!info.key_exchange.empty()) line += " key-exchange " + info.key_exchange;
  if (!info.server_signature.empty()) line += " server-signature " + info.server_signature;
  if (!info.server_digest.empty()) line += " server-digest " + info.server_digest;
  if (!info.client_signature.empty()) line += " client-signature " + info.client_signature;
  if (!info.client_digest.empty()) line += " client-digest " + info.client_digest;
  return line;
}

std::vector<std::string> received_header_lines(const Info& info, bool ccert_requested) {
  std::vector<std::string> lines;
  lines.push_back(fmt::format("(using {} with cipher {} ({}/{} bits)", info.protocol, info.cipher,
                              info.cipher_bits, info.cipher_alg_bits));
  std::string kex;
  if (!info.key_exchange.empty()) kex += " key-exchange " + info.key_exchange;
  if (!info.server_signature.empty()) kex += " server-signature " + info.server_signature;
  if (!info.server_digest.empty()) kex += " server-digest " + info.server_digest;
  std::string client;
  if (!info.client_signature.empty()) client += " client-signature " + info.client_signature;
  if (!info.client_digest.empty()) client += " client-digest " + info.client_digest;
  if (!kex.empty()) lines.push_back(kex);
  if (!client.empty()) lines.push_back(client);
  lines.back() += ")";
  if (!ccert_requested)
    lines.emplace_back("(No client certificate requested)");
  else if (!info.peer_has_cert)
    lines.emplace_back("(Client did not present a certificate)");
  else
    lines.push_back(fmt::format("(Client CN \"{}\", Issuer \"{}\" ({}))", info.peer_cn,
                                info.issuer_cn, info.peer_trusted ? "verified OK" : "not verified"));
  return lines;
}

namespace detail {

namespace {

// OpenSSL's error queue as Postfix logs it: "error:...:reason:file:line:".
std::vector<std::string> library_problems() {
  std::vector<std::string> out;
  const char* file = nullptr;
  int line = 0;
  unsigned long e;
  while ((e = ERR_get_error_all(&file, &line, nullptr, nullptr, nullptr)) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out.push_back(fmt::format("{}:{}:{}:", buf, file ? file : "", line));
  }
  return out;
}


Result<std::vector<std::string>> list_param(const Config& cfg, const std::string& name) {
  auto v = cfg.expand(name);
  if (!v) return std::unexpected(v.error());
  std::vector<std::string> out;
  for (auto piece : split(*v)) out.emplace_back(piece);
  return out;
}

struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct X509Free {
  void operator()(X509* c) const { X509_free(c); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

// One key with its certificate chain (leaf first).
struct KeyChain {
  PkeyPtr key;
  std::vector<X509Ptr> certs;
  std::string key_file, cert_file;
};

// One PEM object of a file: a key or a certificate (others are skipped).
struct PemObject {
  PkeyPtr key;
  X509Ptr cert;
};

// Postfix's words for what could not be loaded, with OpenSSL's (or the
// system's) details in `problems`.
using Problems = std::vector<std::string>;

std::vector<PemObject> parse_pem(const std::string& pem_text) {
  const std::string* text = &pem_text;
  BIO* bio = BIO_new_mem_buf(text->data(), static_cast<int>(text->size()));
  std::vector<PemObject> out;
  for (;;) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (!PEM_read_bio(bio, &name, &header, &data, &len)) break;
    std::string_view n(name);
    const unsigned char* p = data;
    if (n == "CERTIFICATE" || n == "TRUSTED CERTIFICATE" || n == "X509 CERTIFICATE") {
      X509Ptr c(n == "TRUSTED CERTIFICATE" ? d2i_X509_AUX(nullptr, &p, len)
                                           : d2i_X509(nullptr, &p, len));
      if (c) out.push_back({nullptr, std::move(c)});
    } else if (n.ends_with("PRIVATE KEY") && n != "ENCRYPTED PRIVATE KEY") {
      PkeyPtr k(d2i_AutoPrivateKey(nullptr, &p, len));
      if (k) out.push_back({std::move(k), nullptr});
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
  }
  BIO_free(bio);
  ERR_clear_error();  // the end-of-file "no start line"
  return out;
}

Result<std::vector<PemObject>> read_pem(const std::string& file, std::string_view what,
                                        Problems& problems) {
  auto text = read_file(file, 1 << 20);
  if (!text) {
    problems.push_back(text.error().text);
    return fail(Errc::kInvalid, fmt::format("cannot get {} from file \"{}\"", what, file));
  }
  return parse_pem(*text);
}

// Groups PEM objects: a key followed by its chain, or a chain followed by its key.
std::vector<KeyChain> group_objects(std::vector<PemObject>& objects, const std::string& file);

Result<std::vector<KeyChain>> group_chain_file(const std::string& file, Problems& problems) {
  auto objects = read_pem(file, "private key and certificate chain", problems);
  if (!objects) return std::unexpected(objects.error());
  std::vector<KeyChain> groups = group_objects(*objects, file);
  if (groups.empty())
    return fail(Errc::kInvalid,
                fmt::format("cannot get private key and certificate chain from file \"{}\"",
                            file));
  return groups;
}

std::vector<KeyChain> group_objects(std::vector<PemObject>& objects, const std::string& file) {
  std::vector<KeyChain> groups;
  KeyChain cur;
  auto flush = [&] {
    if (cur.key || !cur.certs.empty()) groups.push_back(std::move(cur));
    cur = KeyChain();
  };
  for (auto& o : objects) {
    if (o.key) {
      if (cur.key) flush();
      cur.key = std::move(o.key);
      cur.key_file = file;
      if (!cur.certs.empty()) flush();  // key last
    } else {
      cur.certs.push_back(std::move(o.cert));
      cur.cert_file = file;
    }
  }
  flush();
  return groups;
}

// Installs one key and chain; `algo` is "RSA ", "ECDSA ", "DSA " or "".
Status install(SSL_CTX* ctx, KeyChain& kc, std::string_view algo, Problems& problems) {
  auto bad = [&](std::string_view what, const std::string& file) {
    for (auto& p : library_problems()) problems.push_back(std::move(p));
    return fail(Errc::kInvalid, fmt::format("cannot get {}{} from file \"{}\"", algo, what, file));
  };
  if (!kc.key) return bad("private key", kc.cert_file);
  if (kc.certs.empty()) return bad("certificate", kc.key_file);
  // Checked against this leaf: SSL_CTX_check_private_key would look at the
  // slot of the key's own type, which may hold another (matching) pair.
  if (X509_check_private_key(kc.certs[0].get(), kc.key.get()) != 1)
    return bad("private key", kc.key_file);
  if (SSL_CTX_use_certificate(ctx, kc.certs[0].get()) != 1) return bad("certificate", kc.cert_file);
  // A key that does not match its certificate: OpenSSL says "key values mismatch".
  if (SSL_CTX_use_PrivateKey(ctx, kc.key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    return bad("private key", kc.key_file);
  for (size_t i = 1; i < kc.certs.size(); ++i)
    if (SSL_CTX_add1_chain_cert(ctx, kc.certs[i].get()) != 1)
      return bad("certificate chain", kc.cert_file);
  return {};
}

// The legacy cert_file/key_file pair of one algorithm.
Status load_pair(SSL_CTX* ctx, const std::string& cert_file, const std::string& key_file,
                 std::string_view algo, Problems& problems) {
  auto certs = read_pem(cert_file, fmt::format("{}certificate", algo), problems);
  if (!certs) return std::unexpected(certs.error());
  KeyChain kc;
  kc.cert_file = cert_file;
  kc.key_file = key_file;
  for (auto& o : *certs) {
    if (o.cert) kc.certs.push_back(std::move(o.cert));
    if (o.key && !kc.key && key_file == cert_file) kc.key = std::move(o.key);
  }
  if (kc.certs.empty())
    return fail(Errc::kInvalid,
                fmt::format("cannot get {}certificate from file \"{}\"", algo, cert_file));
  if (key_file != cert_file) {
    auto keys = read_pem(key_file, fmt::format("{}private key", algo), problems);
    if (!keys) return std::unexpected(keys.error());
    for (auto& o : *keys)
      if (o.key && !kc.key) kc.key = std::move(o.key);
  }
  if (!kc.key)
    return fail(Errc::kInvalid,
                fmt::format("cannot get {}private key from file \"{}\"", algo, key_file));
  return install(ctx, kc, algo, problems);
}

std::string pkey_description(EVP_PKEY* key, bool tls13) {
  if (!key) return {};
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      return fmt::format("{} ({} bits)", tls13 ? "RSA-PSS" : "RSA", EVP_PKEY_get_bits(key));
    case EVP_PKEY_RSA_PSS:
      return fmt::format("RSA-PSS ({} bits)", EVP_PKEY_get_bits(key));
    case EVP_PKEY_EC: {
      char group[80] = "";
      size_t len = 0;
      EVP_PKEY_get_group_name(key, group, sizeof group, &len);
      const char* nist = EC_curve_nid2nist(OBJ_sn2nid(group));
      return fmt::format("ECDSA ({})", nist ? nist : group);
    }
    case EVP_PKEY_ED25519: return "ED25519";
    case EVP_PKEY_ED448: return "ED448";
    default: return fmt::format("{} ({} bits)", OBJ_nid2sn(EVP_PKEY_get_base_id(key)),
                                EVP_PKEY_get_bits(key));
  }
}

std::string digest_name(int nid) {
  if (nid == NID_undef) return {};
  const char* sn = OBJ_nid2sn(nid);
  return sn ? uppercase(sn) : std::string();
}

std::string fingerprint(const EVP_MD* md, const unsigned char* der, int len) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (len <= 0 || EVP_Digest(der, static_cast<size_t>(len), out, &n, md, nullptr) != 1) return {};
  return format_fingerprint(std::string_view(reinterpret_cast<char*>(out), n));
}

std::string name_entry(X509_NAME* name) {
  if (!name) return {};
  int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return {};
  ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, s);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return printable(out);
}

}  // namespace

void ignore_sigpipe() {
  struct sigaction old {};
  if (sigaction(SIGPIPE, nullptr, &old) == 0 && old.sa_handler == SIG_DFL)
    std::signal(SIGPIPE, SIG_IGN);
}

Result<CommonSettings> read_common(const Config& cfg, const std::string& prefix, bool mandatory,
                                   std::vector<std::string> extra_exclusions) {
  CommonSettings s;
  auto loglevel = cfg.int_value(prefix + "_tls_loglevel");
  if (!loglevel) return std::unexpected(loglevel.error());
  s.loglevel = static_cast<int>(*loglevel);
  auto digest = cfg.expand(prefix + "_tls_fingerprint_digest");
  if (digest && !trim(*digest).empty() && EVP_get_digestbyname(std::string(trim(*digest)).c_str()))
    s.fingerprint_digest = lowercase(trim(*digest));
  else if (digest && !trim(*digest).empty())
    return fail(Errc::kInvalid, fmt::format("{}_tls_fingerprint_digest: unknown digest \"{}\"",
                                            prefix, *digest));
  auto cafile = cfg.expand(prefix + "_tls_CAfile");
  auto capath = cfg.expand(prefix + "_tls_CApath");
  if (!cafile) return std::unexpected(cafile.error());
  if (!capath) return std::unexpected(capath.error());
  s.cafile = std::string(trim(*cafile));
  s.capath = std::string(trim(*capath));

  std::string proto_param = prefix + (mandatory ? "_tls_mandatory_protocols" : "_tls_protocols");
  auto protocols = cfg.expand(proto_param);
  if (!protocols) return std::unexpected(protocols.error());
  auto range = parse_protocols(proto_param, *protocols);
  if (!range) return std::unexpected(range.error());
  s.protocols = *range;

  std::string cipher_param = prefix + (mandatory ? "_tls_mandatory_ciphers" : "_tls_ciphers");
  auto grade = cfg.expand(cipher_param);
  if (!grade) return std::unexpected(grade.error());
  auto exclusions = list_param(cfg, prefix + "_tls_exclude_ciphers");
  if (!exclusions) return std::unexpected(exclusions.error());
  if (mandatory) {
    auto more = list_param(cfg, prefix + "_tls_mandatory_exclude_ciphers");
    if (!more) return std::unexpected(more.error());
    exclusions->insert(exclusions->end(), more->begin(), more->end());
  }
  exclusions->insert(exclusions->end(), extra_exclusions.begin(), extra_exclusions.end());
  auto ciphers = cipher_list(cfg, cipher_param, *grade, *exclusions);
  if (!ciphers) return std::unexpected(ciphers.error());
  s.ciphers = *ciphers;

  // ECDHE groups: <prefix>_tls_eecdh_grade (servers) picks the list.
  std::string curve_param = "tls_eecdh_auto_curves";
  if (cfg.is_known(prefix + "_tls_eecdh_grade")) {
    auto eecdh = cfg.expand(prefix + "_tls_eecdh_grade");
    if (!eecdh) return std::unexpected(eecdh.error());
    std::string g = lowercase(trim(*eecdh));
    if (g == "strong") curve_param = "tls_eecdh_strong_curve";
    else if (g == "ultra") curve_param = "tls_eecdh_ultra_curve";
    else if (g != "auto" && g != "none" && !g.empty())
      return fail(Errc::kInvalid, fmt::format("invalid {}_tls_eecdh_grade value \"{}\"", prefix, g));
  }
  auto curves = cfg.expand(curve_param);
  if (!curves) return std::unexpected(curves.error());
  s.curves = *curves;
  auto preempt = cfg.bool_value("tls_preempt_cipherlist");
  if (!preempt) return std::unexpected(preempt.error());
  s.server_preference = *preempt;
  return s;
}

Result<SSL_CTX*> new_context(bool server, const CommonSettings& common) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx) return fail(Errc::kIo, "cannot create TLS context: " + openssl_errors());
  auto bad = [&](std::string why) {
    SSL_CTX_free(ctx);
    return fail(Errc::kInvalid, std::move(why));
  };
  SSL_CTX_set_min_proto_version(ctx, common.protocols.min_version);
  SSL_CTX_set_max_proto_version(ctx, common.protocols.max_version);
  SSL_CTX_set_options(ctx, common.protocols.disable_options | SSL_OP_NO_COMPRESSION |
                               SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_set_cipher_list(ctx, common.ciphers.c_str()) != 1)
    return bad(fmt::format("invalid cipher list \"{}\": {}", common.ciphers, openssl_errors()));
  if (server && common.server_preference)
    SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  // ECDHE groups: keep the names this OpenSSL knows.
  std::vector<std::string> known;
  for (auto c : split(common.curves))
    if (SSL_CTX_set1_groups_list(ctx, std::string(c).c_str()) == 1) known.emplace_back(c);
  ERR_clear_error();
  if (!known.empty()) SSL_CTX_set1_groups_list(ctx, join(known, ":").c_str());
  if (!common.cafile.empty() || !common.capath.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, common.cafile.empty() ? nullptr : common.cafile.c_str(),
                                      common.capath.empty() ? nullptr : common.capath.c_str()) !=
        1) {
      std::string which = !common.cafile.empty() ? "CAfile \"" + common.cafile + "\""
                                                  : "CApath \"" + common.capath + "\"";
      return bad(fmt::format("cannot load certificate authorities from {}: {}", which,
                             openssl_errors()));
    }
  }
  return ctx;
}

Status load_pem_text(SSL_CTX* ctx, const std::string& text, const std::string& label,
                     std::vector<std::string>& problems) {
  auto objects = parse_pem(text);
  auto groups = group_objects(objects, label);
  if (groups.empty())
    return fail(Errc::kInvalid,
                fmt::format("cannot get private key and certificate chain from {}", label));
  for (auto& kc : groups)
    if (auto s = install(ctx, kc, "", problems); !s) return s;
  return {};
}

Status load_certificates(SSL_CTX* ctx, const Config& cfg, const std::string& prefix,
                         bool required, std::vector<std::string>& problems) {
  auto chain_files = list_param(cfg, prefix + "_tls_chain_files");
  if (!chain_files) return std::unexpected(chain_files.error());
  bool loaded = false;
  if (!chain_files->empty()) {
    for (const auto& file : *chain_files) {
      auto groups = group_chain_file(file, problems);
      if (!groups) return std::unexpected(groups.error());
      for (auto& kc : *groups)
        if (auto s = install(ctx, kc, "", problems); !s) return s;
    }
    return {};
  }
  struct Pair {
    const char* cert;
    const char* key;
    const char* algo;
  };
  for (auto [cert, key, algo] : {Pair{"_tls_cert_file", "_tls_key_file", "RSA "},
                                 Pair{"_tls_eccert_file", "_tls_eckey_file", "ECDSA "},
                                 Pair{"_tls_dcert_file", "_tls_dkey_file", "DSA "}}) {
    if (!cfg.is_known(prefix + cert)) continue;
    auto c = cfg.expand(prefix + cert);
    auto k = cfg.expand(prefix + key);
    if (!c) return std::unexpected(c.error());
    if (!k) return std::unexpected(k.error());
    std::string cf(trim(*c)), kf(trim(*k));
    if (cf.empty()) continue;
    if (kf.empty()) kf = cf;
    if (auto s = load_pair(ctx, cf, kf, algo, problems); !s) return s;
    loaded = true;
  }
  if (!loaded && required)
    return fail(Errc::kInvalid, fmt::format("no certificate configured: set {0}_tls_chain_files "
                                            "or {0}_tls_cert_file and {0}_tls_key_file",
                                            prefix));
  return {};
}

void log_handshake_failure(std::string_view what, const Error& error,
                           const std::vector<std::string>& problems) {
  switch (error.code) {
    case Errc::kTimeout: log::info("{}: Connection timed out", what); break;
    case Errc::kEof: log::info("{}: lost connection", what); break;
    default:
      log::info("{}: -1", what);
      for (const auto& p : problems) log::warn("TLS library problem: {}", p);
  }
}

Status handshake(SSL* ssl, Deadline deadline, std::vector<std::string>* problems) {
  int fd = SSL_get_fd(ssl);
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1) return {};
    int err = SSL_get_error(ssl, r);
    short events = 0;
    if (err == SSL_ERROR_WANT_READ) events = POLLIN;
    if (err == SSL_ERROR_WANT_WRITE) events = POLLOUT;
    if (events) {
      if (auto w = wait_fd(fd, events, deadline); !w) {
        if (w.error().code == Errc::kTimeout)
          return fail(Errc::kTimeout, "timeout during TLS handshake");
        return w;
      }
      continue;
    }
    if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0))
      return fail(Errc::kEof, "lost connection during TLS handshake");
    auto lines = library_problems();
    std::string why = lines.empty() ? std::string() : lines.front();
    if (problems) *problems = std::move(lines);
    return fail(Errc::kIo, "TLS handshake failed" + (why.empty() ? "" : ": " + why));
  }
}

std::vector<std::string> certificate_names(X509* cert) {
  std::vector<std::string> out;
  auto* names = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
      GENERAL_NAME* g = sk_GENERAL_NAME_value(names, i);
      if (g->type != GEN_DNS) continue;
      const unsigned char* d = ASN1_STRING_get0_data(g->d.dNSName);
      out.emplace_back(reinterpret_cast<const char*>(d),
                       static_cast<size_t>(ASN1_STRING_length(g->d.dNSName)));
    }
    GENERAL_NAMES_free(names);
  }
  if (out.empty()) {
    std::string cn = name_entry(X509_get_subject_name(cert));
    if (!cn.empty()) out.push_back(cn);
  }
  return out;
}

// The peer certificate's names, trust and fingerprints.
static void fill_peer_certificate(Info& info, SSL* ssl, const std::string& digest) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer) {
    info.peer_has_cert = true;
    info.peer_cn = name_entry(X509_get_subject_name(peer));
    info.issuer_cn = name_entry(X509_get_issuer_name(peer));
    info.peer_names = certificate_names(peer);
    long v = SSL_get_verify_result(ssl);
    info.peer_trusted = v == X509_V_OK;
    info.verify_code = static_cast<int>(v);
    if (!info.peer_trusted) info.verify_error = X509_verify_cert_error_string(v);
    X509* top = peer;
    if (STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl); chain && sk_X509_num(chain) > 0)
      top = sk_X509_value(chain, sk_X509_num(chain) - 1);
    if (char* dn = X509_NAME_oneline(X509_get_issuer_name(top), nullptr, 0)) {
      info.top_issuer = printable(dn);
      OPENSSL_free(dn);
    }
    const EVP_MD* md = EVP_get_digestbyname(digest.c_str());
    if (md) {
      unsigned char* der = nullptr;
      int len = i2d_X509(peer, &der);
      info.peer_cert_fingerprint = fingerprint(md, der, len);
      OPENSSL_free(der);
      der = nullptr;
      len = i2d_PUBKEY(X509_get0_pubkey(peer), &der);
      info.peer_pkey_fingerprint = fingerprint(md, der, len);
      OPENSSL_free(der);
    }
  }
}

Info collect_info(SSL* ssl, bool server, const std::string& digest) {
  Info info;
  info.protocol = SSL_get_version(ssl);
  bool tls13 = SSL_version(ssl) >= TLS1_3_VERSION;
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) {
    info.cipher = SSL_CIPHER_get_name(c);
    info.cipher_bits = SSL_CIPHER_get_bits(c, &info.cipher_alg_bits);
  }
  info.session_reused = SSL_session_reused(ssl) == 1;
  // Like Postfix, the key exchange and signatures are described only for
  // TLS 1.3 (the TLS 1.2 cipher name already says most of it).
  if (!tls13) {
    fill_peer_certificate(info, ssl, digest);
    return info;
  }
  int group = SSL_get_negotiated_group(ssl);
  if (group > 0) {
    int nid = group & ~TLSEXT_nid_unknown;
    const char* sn = OBJ_nid2sn(nid);
    const char* gn = SSL_group_to_name(ssl, group);
    std::string name = sn ? sn : gn ? gn : "";
    // NIST-style curves read "ECDHE (prime256v1)"; X25519 and X448 stand alone.
    EC_GROUP* ec = EC_GROUP_new_by_curve_name(nid);
    info.key_exchange = ec ? "ECDHE (" + name + ")" : name;
    EC_GROUP_free(ec);
    ERR_clear_error();
  }
  X509* peer = SSL_get0_peer_certificate(ssl);
  EVP_PKEY* own_key = SSL_get_privatekey(ssl);
  int own_md = NID_undef, peer_md = NID_undef;
  SSL_get_signature_nid(ssl, &own_md);
  SSL_get_peer_signature_nid(ssl, &peer_md);
  if (server) {
    if (own_key && !info.session_reused) {
      info.server_signature = pkey_description(own_key, tls13);
      info.server_digest = digest_name(own_md);
    }
    if (peer) {
      info.client_signature = pkey_description(X509_get0_pubkey(peer), tls13);
      info.client_digest = digest_name(peer_md);
    }
  } else {
    if (peer && !info.session_reused) {
      info.server_signature = pkey_description(X509_get0_pubkey(peer), tls13);
      info.server_digest = digest_name(peer_md);
    }
    if (SSL_get_certificate(ssl) && own_key && SSL_get_state(ssl) == TLS_ST_OK &&
        own_md != NID_undef) {
      info.client_signature = pkey_description(own_key, tls13);
      info.client_digest = digest_name(own_md);
    }
  }
  fill_peer_certificate(info, ssl, digest);
  return info;
}

Result<TlsTransport*> start_on_stream(Stream& stream, SSL* ssl, Deadline deadline, bool server,
                                      const std::string& digest,
                                      std::vector<std::string>* problems) {
  stream.discard_buffered_input();
  if (SSL_set_fd(ssl, stream.fd()) != 1) {
    SSL_free(ssl);
    return fail(Errc::kIo, "SSL_set_fd: " + openssl_errors());
  }
  if (server)
    SSL_set_accept_state(ssl);
  else
    SSL_set_connect_state(ssl);
  if (auto h = handshake(ssl, deadline, problems); !h) {
    SSL_free(ssl);
    return std::unexpected(h.error());
  }
  auto transport = std::make_unique<TlsTransport>(ssl, collect_info(ssl, server, digest));
  TlsTransport* raw = transport.get();
  raw->adopt_lower(stream.replace_transport(std::move(transport)));
  return raw;
}

}  // namespace detail
}  // namespace postern::tls
