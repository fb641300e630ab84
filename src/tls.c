/*
 * tls.c: the files of the TLS transport (the tls section).
 *
 * Sofia-SIP 1.12.11 takes them as one directory (TPTAG_CERTIFICATE)
 * holding agent.pem, the private key and the certificate in one file,
 * and cafile.pem. Given a directory it cannot use, it silently creates
 * no TLS transport; given an unreadable certificate, it may crash. So
 * tls_check reads the configured files first (each must parse as PEM,
 * the key must match the certificate), and tls_dir_create writes them
 * into a private directory (0700, files 0600) that the caller removes
 * with tls_dir_remove as soon as Sofia has loaded them (it reads them
 * once, when the transport is created).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "sippushd.h"

#define TLS_FILE_MAX	(4 * 1024 * 1024)	/* bytes of a PEM file */

/* Never asked for a passphrase: an encrypted key is refused. */
static int
tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/* Open path for reading; NULL with "path: reason (what)" in err. */
static FILE *
tls_open(const char *path, const char *what, char *err, size_t errlen)
{
	FILE	*fp;

	if ((fp = fopen(path, "r")) == NULL)
		snprintf(err, errlen, "%s: cannot read (%s): %s", path, what,
		    strerror(errno));
	return fp;
}

/* The certificates of a PEM file: how many, the first in *first (if
 * first is not NULL). -1 with err set when the file cannot be read. */
static int
tls_read_certs(const char *path, const char *what, X509 **first, char *err,
    size_t errlen)
{
	FILE	*fp;
	X509	*x;
	int	 n = 0;

	if ((fp = tls_open(path, what, err, errlen)) == NULL)
		return -1;
	while ((x = PEM_read_X509(fp, NULL, tls_no_passphrase, NULL)) !=
	    NULL) {
		if (n++ == 0 && first)
			*first = x;
		else
			X509_free(x);
	}
	ERR_clear_error();
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: cannot read (%s): %s", path, what,
		    strerror(errno));
		n = -1;
	}
	fclose(fp);
	if (n == 0)
		snprintf(err, errlen, "%s: no PEM certificate in it (%s)",
		    path, what);
	return n;
}

/*
 * Check the files the tls section names, if it is enabled: the
 * certificate and the CA file hold PEM certificates, the key file an
 * unencrypted PEM private key that matches the certificate. Warns of a
 * certificate that is expired or not valid yet. Returns 0, or -1 with
 * "file: reason (tls.option)" in err.
 */
int
tls_check(const struct config *cfg, char *err, size_t errlen)
{
	X509		*cert = NULL;
	EVP_PKEY	*key = NULL;
	FILE		*fp;
	int		 rv = -1;

	if (!cfg->tls_enable)
		return 0;
	if (tls_read_certs(cfg->tls_cert, "tls.certificate", &cert, err,
	    errlen) <= 0)
		goto out;
	if ((fp = tls_open(cfg->tls_key, "tls.key", err, errlen)) == NULL)
		goto out;
	key = PEM_read_PrivateKey(fp, NULL, tls_no_passphrase, NULL);
	fclose(fp);
	ERR_clear_error();
	if (key == NULL) {
		snprintf(err, errlen, "%s: no unencrypted PEM private key in "
		    "it (tls.key)", cfg->tls_key);
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s: the key does not match the "
		    "certificate of %s (tls.key)", cfg->tls_key,
		    cfg->tls_cert);
		goto out;
	}
	if (cfg->tls_ca && tls_read_certs(cfg->tls_ca, "tls.ca_file", NULL,
	    err, errlen) <= 0)
		goto out;
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) < 0)
		log_warn("tls: %s: the certificate has expired: clients "
		    "will refuse it", cfg->tls_cert);
	else if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0)
		log_warn("tls: %s: the certificate is not valid yet: "
		    "clients will refuse it", cfg->tls_cert);
	rv = 0;
out:
	EVP_PKEY_free(key);
	X509_free(cert);
	return rv;
}

/* Append the file at path to fd. 0, or -1 with err set. */
static int
tls_append(int fd, const char *path, const char *what, char *err,
    size_t errlen)
{
	char	 buf[8192];
	size_t	 n, total = 0;
	FILE	*fp;
	int	 rv = 0;

	if ((fp = tls_open(path, what, err, errlen)) == NULL)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), fp)) > 0) {
		if ((total += n) > TLS_FILE_MAX) {
			snprintf(err, errlen, "%s: larger than %d bytes (%s)",
			    path, TLS_FILE_MAX, what);
			rv = -1;
			break;
		}
		if (write(fd, buf, n) != (ssize_t)n) {
			snprintf(err, errlen, "cannot write the TLS files: "
			    "%s", strerror(errno));
			rv = -1;
			break;
		}
	}
	if (rv == 0 && ferror(fp)) {
		snprintf(err, errlen, "%s: cannot read (%s): %s", path, what,
		    strerror(errno));
		rv = -1;
	}
	/* PEM blocks must start on a line of their own */
	if (rv == 0 && write(fd, "\n", 1) != 1) {
		snprintf(err, errlen, "cannot write the TLS files: %s",
		    strerror(errno));
		rv = -1;
	}
	fclose(fp);
	return rv;
}

/* Write dir/name (0600) from the files in paths. 0, or -1. */
static int
tls_write(const char *dir, const char *name, const char *const *paths,
    const char *const *whats, char *err, size_t errlen)
{
	char	 file[PATH_MAX];
	int	 fd, i;

	snprintf(file, sizeof(file), "%s/%s", dir, name);
	if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600)) == -1) {
		snprintf(err, errlen, "%s: cannot create: %s", file,
		    strerror(errno));
		return -1;
	}
	for (i = 0; paths[i]; i++)
		if (tls_append(fd, paths[i], whats[i], err, errlen) == -1) {
			close(fd);
			return -1;
		}
	if (close(fd) == -1) {
		snprintf(err, errlen, "%s: cannot write: %s", file,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Make the directory Sofia-SIP loads the TLS transport from: a new
 * private directory under $TMPDIR (else /tmp) with agent.pem (the key,
 * then the certificate) and cafile.pem (tls.ca_file, else the
 * certificate file itself). Its path goes to dir. Returns 0, or -1 with
 * err set (and nothing left behind). Remove it with tls_dir_remove.
 */
int
tls_dir_create(const struct config *cfg, char *dir, size_t dirlen,
    char *err, size_t errlen)
{
	const char	*tmp = getenv("TMPDIR");
	const char	*agent[] = { cfg->tls_key, cfg->tls_cert, NULL };
	const char	*agent_what[] = { "tls.key", "tls.certificate", NULL };
	const char	*ca[] = { cfg->tls_ca ? cfg->tls_ca : cfg->tls_cert,
			    NULL };
	const char	*ca_what[] = { cfg->tls_ca ? "tls.ca_file" :
			    "tls.certificate", NULL };

	if (tmp == NULL || *tmp != '/')
		tmp = "/tmp";
	if ((size_t)snprintf(dir, dirlen, "%s/sippushd-tls.XXXXXX", tmp) >=
	    dirlen || mkdtemp(dir) == NULL) {
		snprintf(err, errlen, "cannot make a directory for the TLS "
		    "files in %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (chmod(dir, 0700) == -1 ||
	    tls_write(dir, "agent.pem", agent, agent_what, err, errlen) ==
	    -1 ||
	    tls_write(dir, "cafile.pem", ca, ca_what, err, errlen) == -1) {
		tls_dir_remove(dir);
		return -1;
	}
	return 0;
}

/* Remove what tls_dir_create made (quietly: some may be missing). */
void
tls_dir_remove(const char *dir)
{
	const char	*names[] = { "agent.pem", "cafile.pem", NULL };
	char		 file[PATH_MAX];
	int		 i;

	for (i = 0; names[i]; i++) {
		snprintf(file, sizeof(file), "%s/%s", dir, names[i]);
		unlink(file);
	}
	if (rmdir(dir) == -1 && errno != ENOENT)
		log_warn("tls: cannot remove %s: %s", dir, strerror(errno));
}
