/*
 * test_tls.c: the checks of the TLS files and the directory handed to
 * Sofia-SIP (tls.c). The certificates and keys are made here, with
 * OpenSSL, into a folder made for the suite.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "sippushd.h"
#include "tests.h"

static char	 tls_tdir[TEST_DIR_MAX];
static char	 cert1[PATH_MAX], key1[PATH_MAX], key2[PATH_MAX];
static char	 expired[PATH_MAX], junk[PATH_MAX], enc[PATH_MAX];

/* A P-256 key and a self-signed certificate for it, valid from
 * `from` to `to` seconds from now, written as PEM. 0, or -1. */
static int
make_pair(const char *certpath, const char *keypath, long from, long to)
{
	EVP_PKEY	*key;
	X509		*x = NULL;
	X509_NAME	*name;
	FILE		*fp;
	int		 rv = -1;

	if ((key = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL)
		goto out;
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), from);
	X509_gmtime_adj(X509_getm_notAfter(x), to);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"test", -1, -1, 0);
	X509_set_issuer_name(x, name);
	if (X509_sign(x, key, EVP_sha256()) == 0)
		goto out;
	if (certpath) {
		if ((fp = fopen(certpath, "w")) == NULL)
			goto out;
		PEM_write_X509(fp, x);
		fclose(fp);
	}
	if ((fp = fopen(keypath, "w")) == NULL)
		goto out;
	PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL);
	fclose(fp);
	rv = 0;
out:
	X509_free(x);
	EVP_PKEY_free(key);
	return rv;
}

/* The key of keypath again, encrypted with a passphrase. */
static int
make_encrypted(const char *keypath, const char *out)
{
	EVP_PKEY	*key;
	FILE		*fp;

	if ((fp = fopen(keypath, "r")) == NULL)
		return -1;
	key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	if (key == NULL || (fp = fopen(out, "w")) == NULL) {
		EVP_PKEY_free(key);
		return -1;
	}
	PEM_write_PrivateKey(fp, key, EVP_aes_128_cbc(),
	    (unsigned char *)"secret", 6, NULL, NULL);
	fclose(fp);
	EVP_PKEY_free(key);
	return 0;
}

static int
tls_suite_init(void)
{
	if (test_mkdtemp(tls_tdir, sizeof(tls_tdir)) == -1)
		return -1;
	snprintf(cert1, sizeof(cert1), "%s/cert1.pem", tls_tdir);
	snprintf(key1, sizeof(key1), "%s/key1.pem", tls_tdir);
	snprintf(key2, sizeof(key2), "%s/key2.pem", tls_tdir);
	snprintf(expired, sizeof(expired), "%s/expired.pem", tls_tdir);
	snprintf(junk, sizeof(junk), "%s/junk.pem", tls_tdir);
	snprintf(enc, sizeof(enc), "%s/enc.pem", tls_tdir);
	if (make_pair(cert1, key1, 0, 3600) == -1 ||
	    make_pair(NULL, key2, 0, 3600) == -1 ||
	    make_pair(expired, key2, -7200, -3600) == -1 ||
	    make_encrypted(key1, enc) == -1 ||
	    test_write_file(junk, "-----BEGIN CERTIFICATE-----\nnot base64 "
	    "at all\n-----END CERTIFICATE-----\n") == -1)
		return -1;
	return 0;
}

static int
tls_suite_clean(void)
{
	test_rmtree(tls_tdir);
	return 0;
}

/* Settings with TLS on, over these files (NULL: keep). */
static void
tls_cfg(struct config *c, const char *cert, const char *key, const char *ca)
{
	config_defaults(c);
	c->tls_enable = 1;
	c->tls_cert = cert ? strdup(cert) : NULL;
	c->tls_key = key ? strdup(key) : NULL;
	c->tls_ca = ca ? strdup(ca) : NULL;
}

/* tls_check on these files: its result, and err holding every word of
 * want ('|'-separated) when it fails. */
static int
check(const char *cert, const char *key, const char *ca, const char *want,
    int srcline)
{
	struct config	 c;
	char		 err[1024] = "", words[256], *w, *save;
	int		 rv, ok = 1;

	tls_cfg(&c, cert, key, ca);
	rv = tls_check(&c, err, sizeof(err));
	config_free(&c);
	if (want) {
		snprintf(words, sizeof(words), "%s", want);
		for (w = strtok_r(words, "|", &save); w;
		    w = strtok_r(NULL, "|", &save))
			ok &= test_contains(err, w);
		if (rv != -1 || !ok)
			fprintf(stderr, "\ntls (test line %d): rv %d, \"%s\", "
			    "expected \"%s\"\n", srcline, rv, err, want);
	}
	return rv == -1 && ok ? -1 : rv;
}

#define CHECK_FAILS(cert, key, ca, want) \
	CU_ASSERT_EQUAL(check((cert), (key), (ca), (want), __LINE__), -1)

static void
test_check(void)
{
	struct config	 c;
	char		 missing[PATH_MAX + 16], err[512];

	snprintf(missing, sizeof(missing), "%s/missing.pem", tls_tdir);
	CU_ASSERT_EQUAL(check(cert1, key1, NULL, NULL, __LINE__), 0);
	CU_ASSERT_EQUAL(check(cert1, key1, cert1, NULL, __LINE__), 0);
	/* cert and key in one file */
	CU_ASSERT_EQUAL(check(key1, key1, NULL, "no PEM certificate",
	    __LINE__), -1);
	/* an expired certificate is only warned of */
	CU_ASSERT_EQUAL(check(expired, key2, NULL, NULL, __LINE__), 0);

	CHECK_FAILS(missing, key1, NULL,
	    "missing.pem: cannot read (tls.certificate)|No such file");
	CHECK_FAILS(cert1, missing, NULL,
	    "missing.pem: cannot read (tls.key)|No such file");
	CHECK_FAILS(cert1, key1, missing,
	    "missing.pem: cannot read (tls.ca_file)");
	CHECK_FAILS(junk, key1, NULL,
	    "junk.pem: no PEM certificate in it (tls.certificate)");
	CHECK_FAILS(cert1, junk, NULL,
	    "junk.pem: no unencrypted PEM private key in it (tls.key)");
	CHECK_FAILS(cert1, cert1, NULL, "cert1.pem: no unencrypted PEM "
	    "private key");
	CHECK_FAILS(cert1, enc, NULL, "enc.pem: no unencrypted PEM private "
	    "key");
	CHECK_FAILS(cert1, key2, NULL,
	    "key2.pem: the key does not match the certificate|cert1.pem");
	CHECK_FAILS(cert1, key1, key1, "key1.pem: no PEM certificate in it "
	    "(tls.ca_file)");
	CHECK_FAILS(tls_tdir, key1, NULL, "(tls.certificate)");

	/* TLS off: nothing is read */
	config_defaults(&c);
	c.tls_cert = strdup(missing);
	CU_ASSERT_EQUAL(tls_check(&c, err, sizeof(err)), 0);
	config_free(&c);
}

/* The whole of a file, or NULL. */
static char *
slurp(const char *path)
{
	char	*text = NULL;
	size_t	 len = 0;
	FILE	*fp, *mem;
	int	 ch;

	if ((fp = fopen(path, "r")) == NULL)
		return NULL;
	if ((mem = open_memstream(&text, &len)) != NULL) {
		while ((ch = fgetc(fp)) != EOF)
			fputc(ch, mem);
		fclose(mem);
	}
	fclose(fp);
	return text;
}

static void
test_dir(void)
{
	struct config	 c;
	struct stat	 st;
	char		 dir[PATH_MAX], file[PATH_MAX + 16], err[512];
	char		*agent, *ca, *cert, *key;

	setenv("TMPDIR", tls_tdir, 1);
	tls_cfg(&c, cert1, key1, NULL);
	CU_ASSERT_EQUAL_FATAL(tls_dir_create(&c, dir, sizeof(dir), err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(strncmp(dir, tls_tdir, strlen(tls_tdir)), 0);
	CU_ASSERT_EQUAL(stat(dir, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
	snprintf(file, sizeof(file), "%s/agent.pem", dir);
	CU_ASSERT_EQUAL(stat(file, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);
	agent = slurp(file);
	snprintf(file, sizeof(file), "%s/cafile.pem", dir);
	ca = slurp(file);
	cert = slurp(cert1);
	key = slurp(key1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(agent);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ca);
	CU_ASSERT_PTR_NOT_NULL_FATAL(cert);
	CU_ASSERT_PTR_NOT_NULL_FATAL(key);
	/* agent.pem: the key, then the certificate */
	CU_ASSERT_EQUAL(strncmp(agent, key, strlen(key)), 0);
	CU_ASSERT(test_contains(agent + strlen(key), cert));
	/* cafile.pem: the certificate, without a CA file */
	CU_ASSERT_EQUAL(strncmp(ca, cert, strlen(cert)), 0);
	free(agent);
	free(ca);
	free(cert);
	free(key);
	tls_dir_remove(dir);
	CU_ASSERT_EQUAL(stat(dir, &st), -1);
	config_free(&c);

	/* a file gone missing since tls_check: an error, nothing left */
	tls_cfg(&c, cert1, key1, "/nonexistent/ca.pem");
	CU_ASSERT_EQUAL(tls_dir_create(&c, dir, sizeof(dir), err,
	    sizeof(err)), -1);
	CU_ASSERT(test_contains(err, "/nonexistent/ca.pem: cannot read "
	    "(tls.ca_file)"));
	CU_ASSERT_EQUAL(stat(dir, &st), -1);
	config_free(&c);
	unsetenv("TMPDIR");
}

int
test_tls_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("tls", tls_suite_init, tls_suite_clean)) ==
	    NULL)
		return -1;
	if (CU_add_test(s, "tls_check: the files and their errors",
	    test_check) == NULL ||
	    CU_add_test(s, "tls_dir_create: what Sofia-SIP reads",
	    test_dir) == NULL)
		return -1;
	return 0;
}
