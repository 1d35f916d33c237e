// ChaCha20-Poly1305 (RFC 8439, the IETF variant sodium calls crypto_aead_chacha20poly1305_ietf)
// for the PZ packet path, built from OpenSSL's assembly ChaCha20 and Poly1305 (AVX2/AVX-512 where
// the CPU has them) in the system's static libcrypto. Per 1200-byte packet it costs about half of
// what the prebuilt sodium-native does here, on both the sealing and the opening side. Same bytes on
// the wire (test/transport/crypto.test.ts checks both ways); transport/crypto.ts falls back to
// sodium-native when this addon is not built.
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// OpenSSL internals with a stable signature since 1.1.0 (crypto/chacha, crypto/poly1305).
void ChaCha20_ctr32(unsigned char *out, const unsigned char *inp, size_t len, const unsigned int key[8],
                    const unsigned int counter[4]);
size_t Poly1305_ctx_size(void);
void Poly1305_Init(void *ctx, const unsigned char key[32]);
void Poly1305_Update(void *ctx, const unsigned char *inp, size_t len);
void Poly1305_Final(void *ctx, unsigned char mac[16]);
void OPENSSL_cpuid_setup(void);
int CRYPTO_memcmp(const void *a, const void *b, size_t len);

#define TAG 16
#define POLY_CTX_BYTES 512

typedef struct {
  unsigned int key[8];
} aead_key_t;

static const unsigned char zeros[16];

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void key_free(napi_env env, void *data, void *hint) { free(data); }

static int bytes_of(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  napi_typedarray_type type;
  napi_value ab;
  size_t offset;
  void *raw;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, &ab, &offset) != napi_ok) return 0;
  if (type != napi_uint8_array) return 0;
  *data = (uint8_t *)raw;
  return 1;
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_type_error(env, "ERR_NATIVE_AEAD", message);
  return NULL;
}

// Poly1305 key from keystream block 0, then MAC(ad | pad | ct | pad | len(ad) | len(ct)).
static void mac(const aead_key_t *k, const unsigned int counter[4], const uint8_t *ad, size_t ad_len,
                const uint8_t *ct, size_t ct_len, uint8_t tag[TAG]) {
  _Alignas(64) unsigned char ctx[POLY_CTX_BYTES];
  unsigned char block[64] = {0};
  unsigned int c0[4] = {0, counter[1], counter[2], counter[3]};
  ChaCha20_ctr32(block, block, sizeof block, k->key, c0);
  Poly1305_Init(ctx, block);
  Poly1305_Update(ctx, ad, ad_len);
  if (ad_len % 16) Poly1305_Update(ctx, zeros, 16 - ad_len % 16);
  Poly1305_Update(ctx, ct, ct_len);
  if (ct_len % 16) Poly1305_Update(ctx, zeros, 16 - ct_len % 16);
  uint8_t lengths[16];
  for (int i = 0; i < 8; i++) {
    lengths[i] = (uint8_t)((uint64_t)ad_len >> (8 * i));
    lengths[8 + i] = (uint8_t)((uint64_t)ct_len >> (8 * i));
  }
  Poly1305_Update(ctx, lengths, sizeof lengths);
  Poly1305_Final(ctx, tag);
  memset(block, 0, sizeof block);
}

// key(Uint8Array(32)) -> external
static napi_value aead_key(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  uint8_t *key;
  size_t length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      !bytes_of(env, argv[0], &key, &length) || length != 32)
    return fail(env, "key must be a Uint8Array of 32 bytes");
  aead_key_t *k = malloc(sizeof *k);
  if (k == NULL) return fail(env, "out of memory");
  for (int i = 0; i < 8; i++) k->key[i] = le32(key + 4 * i);
  if (napi_create_external(env, k, key_free, NULL, &result) != napi_ok) {
    free(k);
    return fail(env, "napi_create_external failed");
  }
  return result;
}

typedef struct {
  aead_key_t *key;
  uint8_t *nonce, *ad, *in, *out;
  size_t nonce_len, ad_len, in_len, out_len;
} args_t;

static int get_args(napi_env env, napi_callback_info info, args_t *a) {
  size_t argc = 5;
  napi_value argv[5];
  void *handle;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_external(env, argv[0], &handle) != napi_ok || !bytes_of(env, argv[1], &a->nonce, &a->nonce_len) ||
      !bytes_of(env, argv[2], &a->ad, &a->ad_len) || !bytes_of(env, argv[3], &a->in, &a->in_len) ||
      !bytes_of(env, argv[4], &a->out, &a->out_len) || a->nonce_len != 12)
    return 0;
  a->key = (aead_key_t *)handle;
  return 1;
}

// seal(key, nonce12, ad, plaintext, out): writes plaintext + 16 bytes to out
static napi_value aead_seal(napi_env env, napi_callback_info info) {
  args_t a;
  napi_value result;
  if (!get_args(env, info, &a) || a.out_len < a.in_len + TAG)
    return fail(env, "seal(key, nonce12, ad, plaintext, out >= plaintext + 16)");
  unsigned int counter[4] = {1, le32(a.nonce), le32(a.nonce + 4), le32(a.nonce + 8)};
  ChaCha20_ctr32(a.out, a.in, a.in_len, a.key->key, counter);
  mac(a.key, counter, a.ad, a.ad_len, a.out, a.in_len, a.out + a.in_len);
  (void)result;
  return NULL;  // the caller knows the length; no return value saves a handle per packet
}

// The packet path takes one datagram and offsets instead of four views: fewer typed arrays to
// unwrap and no subarray objects per packet on the JS side.
// sealPacket(key, nonce12, datagram, headerLength, plaintext, plaintextLength): the header
// datagram[0, headerLength) is the associated data; ciphertext and tag follow it.
static napi_value aead_seal_packet(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  void *handle;
  uint8_t *nonce, *datagram, *plain;
  size_t nonce_len, datagram_len, plain_cap;
  int32_t header_len, plain_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 6 ||
      napi_get_value_external(env, argv[0], &handle) != napi_ok || !bytes_of(env, argv[1], &nonce, &nonce_len) ||
      !bytes_of(env, argv[2], &datagram, &datagram_len) || napi_get_value_int32(env, argv[3], &header_len) != napi_ok ||
      !bytes_of(env, argv[4], &plain, &plain_cap) || napi_get_value_int32(env, argv[5], &plain_len) != napi_ok ||
      nonce_len != 12 || header_len < 0 || plain_len < 0 || (size_t)plain_len > plain_cap ||
      (size_t)header_len + (size_t)plain_len + TAG > datagram_len)
    return fail(env, "sealPacket(key, nonce12, datagram, headerLength, plaintext, plaintextLength)");
  aead_key_t *k = (aead_key_t *)handle;
  unsigned int counter[4] = {1, le32(nonce), le32(nonce + 4), le32(nonce + 8)};
  uint8_t *ct = datagram + header_len;
  ChaCha20_ctr32(ct, plain, (size_t)plain_len, k->key, counter);
  mac(k, counter, datagram, (size_t)header_len, ct, (size_t)plain_len, ct + plain_len);
  return NULL;
}

// openPacket(key, nonce12, datagram, headerLength, out) -> plaintext length, or -1 when the packet
// does not authenticate (then `out` is untouched).
static napi_value aead_open_packet(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  void *handle;
  uint8_t *nonce, *datagram, *out;
  size_t nonce_len, datagram_len, out_len;
  int32_t header_len;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5 ||
      napi_get_value_external(env, argv[0], &handle) != napi_ok || !bytes_of(env, argv[1], &nonce, &nonce_len) ||
      !bytes_of(env, argv[2], &datagram, &datagram_len) || napi_get_value_int32(env, argv[3], &header_len) != napi_ok ||
      !bytes_of(env, argv[4], &out, &out_len) || nonce_len != 12 || header_len < 0 ||
      (size_t)header_len > datagram_len)
    return fail(env, "openPacket(key, nonce12, datagram, headerLength, out)");
  int32_t length = -1;
  size_t sealed = datagram_len - (size_t)header_len;
  if (sealed >= TAG && sealed - TAG <= out_len) {
    aead_key_t *k = (aead_key_t *)handle;
    size_t plain = sealed - TAG;
    const uint8_t *ct = datagram + header_len;
    unsigned int counter[4] = {1, le32(nonce), le32(nonce + 4), le32(nonce + 8)};
    uint8_t tag[TAG];
    mac(k, counter, datagram, (size_t)header_len, ct, plain, tag);
    if (CRYPTO_memcmp(tag, ct + plain, TAG) == 0) {
      ChaCha20_ctr32(out, ct, plain, k->key, counter);
      length = (int32_t)plain;
    }
  }
  napi_create_int32(env, length, &result);
  return result;
}

// open(key, nonce12, ad, ciphertext+tag, out) -> true when authentic; only then is `out` written.
static napi_value aead_open(napi_env env, napi_callback_info info) {
  args_t a;
  napi_value result;
  if (!get_args(env, info, &a)) return fail(env, "open(key, nonce12, ad, ciphertext, out)");
  int ok = 0;
  if (a.in_len >= TAG && a.in_len - TAG <= a.out_len) {
    size_t plain = a.in_len - TAG;
    unsigned int counter[4] = {1, le32(a.nonce), le32(a.nonce + 4), le32(a.nonce + 8)};
    uint8_t tag[TAG];
    mac(a.key, counter, a.ad, a.ad_len, a.in, plain, tag);
    ok = CRYPTO_memcmp(tag, a.in + plain, TAG) == 0;
    if (ok) ChaCha20_ctr32(a.out, a.in, plain, a.key->key, counter);
  }
  napi_get_boolean(env, ok, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  OPENSSL_cpuid_setup();
  if (Poly1305_ctx_size() > POLY_CTX_BYTES) {
    napi_throw_error(env, "ERR_NATIVE_AEAD", "Poly1305 context larger than expected");
    return NULL;
  }
  napi_property_descriptor props[] = {
      {"key", NULL, aead_key, NULL, NULL, NULL, napi_default, NULL},
      {"seal", NULL, aead_seal, NULL, NULL, NULL, napi_default, NULL},
      {"open", NULL, aead_open, NULL, NULL, NULL, napi_default, NULL},
      {"sealPacket", NULL, aead_seal_packet, NULL, NULL, NULL, napi_default, NULL},
      {"openPacket", NULL, aead_open_packet, NULL, NULL, NULL, napi_default, NULL},
  };
  if (napi_define_properties(env, exports, 5, props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
