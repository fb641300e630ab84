/*
 * test_http.c: the HTTP API's pieces that need no server: the body of
 * POST /v1/messages (http_api_parse_publish), the router (http_api_match)
 * against the OpenAPI document compiled in (doc/openapi.json), errors
 * to statuses, and token scopes.
 */
#include <string.h>
#include <stdlib.h>

#include <CUnit/CUnit.h>

#include "sippushd.h"
#include "http.h"
#include "tests.h"

static int
parse(const char *body, struct publish_req *rq, json_t **keep,
    struct publish_sel **sel, char *err)
{
	return http_api_parse_publish(body, strlen(body), 3600, rq, sel, keep,
	    err, OP_ERROR_MAX);
}

static void
test_parse_ok(void)
{
	struct publish_req	 rq;
	struct publish_sel	*sel;
	json_t			*keep;
	char			 err[OP_ERROR_MAX];

	CU_ASSERT_EQUAL_FATAL(parse("{\"classes\":[\"a\",\"b\"],\"clients\":"
	    "[\"c1\"],\"body\":\"hi\\u00e9\",\"content_type\":"
	    "\"application/json\",\"ttl\":60,\"callback\":"
	    "\"https://hooks.example/in?a=1\"}", &rq, &keep, &sel, err), 0);
	CU_ASSERT_EQUAL(rq.nsel, 3);
	CU_ASSERT_EQUAL(rq.sel[0].kind, PUBLISH_CLASS);
	CU_ASSERT_STRING_EQUAL(rq.sel[1].name, "b");
	CU_ASSERT_EQUAL(rq.sel[2].kind, PUBLISH_CLIENT);
	CU_ASSERT_STRING_EQUAL(rq.sel[2].name, "c1");
	CU_ASSERT_EQUAL(rq.body_len, 4);	/* UTF-8 of é: 2 bytes */
	CU_ASSERT(memcmp(rq.body, "hi\xc3\xa9", 4) == 0);
	CU_ASSERT_STRING_EQUAL(rq.content_type, "application/json");
	CU_ASSERT_EQUAL(rq.ttl, 60);
	CU_ASSERT_STRING_EQUAL(rq.callback, "https://hooks.example/in?a=1");
	CU_ASSERT_FALSE(rq.all);
	free(sel);
	json_decref(keep);

	CU_ASSERT_EQUAL_FATAL(parse("{\"all\":true,\"body\":\"\"}", &rq, &keep,
	    &sel, err), 0);
	CU_ASSERT(rq.all);
	CU_ASSERT_EQUAL(rq.nsel, 0);
	CU_ASSERT_EQUAL(rq.body_len, 0);
	CU_ASSERT_PTR_NULL(rq.content_type);
	CU_ASSERT_EQUAL(rq.ttl, 0);
	CU_ASSERT_PTR_NULL(rq.callback);
	free(sel);
	json_decref(keep);
}

static void
test_parse_bad(void)
{
	static const struct {
		const char	*body;
		const char	*error;
	} cases[] = {
		{ "", "bad JSON" },
		{ "{\"all\":true,\"body\":\"x\"", "bad JSON" },
		{ "[1]", "must be a JSON object" },
		{ "{\"all\":true,\"body\":\"x\",\"all\":true}", "bad JSON" },
		{ "{\"all\":true,\"body\":\"x\",\"to\":1}", "unknown field \"to\"" },
		{ "{\"body\":\"x\"}", "no target given" },
		{ "{\"all\":false,\"body\":\"x\"}", "no target given" },
		{ "{\"all\":\"yes\",\"body\":\"x\"}", "all must be true or false" },
		{ "{\"classes\":\"a\",\"body\":\"x\"}", "classes must be an array" },
		{ "{\"classes\":[1],\"body\":\"x\"}", "classes[0] is not a string" },
		{ "{\"classes\":[\"a b\"],\"body\":\"x\"}", "not a valid class" },
		{ "{\"clients\":[\"ok\",\"\"],\"body\":\"x\"}",
		    "clients[1]: \"\" is not a valid client ID" },
		{ "{\"all\":true}", "body must be a string" },
		{ "{\"all\":true,\"body\":7}", "body must be a string" },
		{ "{\"all\":true,\"body\":\"a\\u0000b\"}", "NUL" },
		{ "{\"all\":true,\"body\":\"x\",\"ttl\":0}", "ttl must be 1..3600" },
		{ "{\"all\":true,\"body\":\"x\",\"ttl\":3601}", "ttl must be" },
		{ "{\"all\":true,\"body\":\"x\",\"ttl\":\"60\"}", "ttl must be" },
		{ "{\"all\":true,\"body\":\"x\",\"ttl\":1.5}", "ttl must be" },
		{ "{\"all\":true,\"body\":\"x\",\"content_type\":\"a\\r\\nb\"}",
		    "bad content_type" },
		{ "{\"all\":true,\"body\":\"x\",\"content_type\":5}",
		    "bad content_type" },
		{ "{\"all\":true,\"body\":\"x\",\"callback\":\"ftp://h/\"}",
		    "callback must be an http:// or https:// URL" },
		{ "{\"all\":true,\"body\":\"x\",\"callback\":7}",
		    "callback must be" },
		{ "{\"all\":true,\"body\":\"x\",\"callback\":"
		    "\"http://h/a b\"}", "callback must be" },
	};
	struct publish_req	 rq;
	struct publish_sel	*sel;
	json_t			*keep;
	char			 err[OP_ERROR_MAX];
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		CU_ASSERT_EQUAL(parse(cases[i].body, &rq, &keep, &sel, err),
		    -1);
		CU_ASSERT_PTR_NULL(keep);
		CU_ASSERT_PTR_NULL(sel);
		if (!test_contains(err, cases[i].error))
			fprintf(stderr, "\ncase %zu: \"%s\": got \"%s\"\n", i,
			    cases[i].body, err);
		CU_ASSERT(test_contains(err, cases[i].error));
	}
}

static void
test_match(void)
{
	char			 p[HTTP_ROUTE_PARAMS][128];
	const struct http_route	*r;
	int			 found;

	r = http_api_match("GET", "/v1/messages/0123456789abcdef/targets", p,
	    &found);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_STRING_EQUAL(r->path, "/v1/messages/{id}/targets");
	CU_ASSERT_STRING_EQUAL(p[0], "0123456789abcdef");
	CU_ASSERT_EQUAL(r->scope, SCOPE_READ);
	r = http_api_match("DELETE", "/v1/messages/x", p, &found);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->scope, SCOPE_PUBLISH);
	r = http_api_match("POST", "/v1/messages", p, &found);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r);
	CU_ASSERT_EQUAL(r->scope, SCOPE_PUBLISH);
	/* a known path with another method: 405, not 404 */
	CU_ASSERT_PTR_NULL(http_api_match("PUT", "/v1/messages", p, &found));
	CU_ASSERT(found);
	CU_ASSERT_PTR_NULL(http_api_match("GET", "/v1/nothing", p, &found));
	CU_ASSERT_FALSE(found);
	CU_ASSERT_PTR_NULL(http_api_match("GET", "/v1/messages/", p, &found));
	CU_ASSERT_FALSE(found);
	CU_ASSERT_PTR_NULL(http_api_match("GET", "/v1/messages/a/b", p,
	    &found));
	CU_ASSERT_PTR_NULL(http_api_match("GET", "/v1/clients/x/", p, &found));
	CU_ASSERT_PTR_NULL(http_api_match("GET", "/healthz/", p, &found));
}

/* Every route of doc/openapi.json is served, and every route served is
 * in it. */
static void
test_openapi(void)
{
	static const char *const methods[] = { "get", "post", "put", "delete",
	    "patch", "head", "options" };
	const struct http_route	*routes;
	json_error_t		 je;
	json_t			*doc, *paths, *item, *op;
	const char		*path;
	char			 upper[16];
	size_t			 n, i, j, in_doc = 0;

	doc = json_loads(http_openapi_json, 0, &je);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc,
	    "openapi")), "3.0.3");
	paths = json_object_get(doc, "paths");
	CU_ASSERT_FATAL(json_is_object(paths));
	routes = http_api_routes(&n);
	json_object_foreach(paths, path, item) {
		for (j = 0; j < sizeof(methods) / sizeof(methods[0]); j++) {
			if ((op = json_object_get(item, methods[j])) == NULL)
				continue;
			in_doc++;
			for (i = 0; methods[j][i]; i++)
				upper[i] = (char)(methods[j][i] - 'a' + 'A');
			upper[i] = '\0';
			for (i = 0; i < n; i++)
				if (strcmp(routes[i].method, upper) == 0 &&
				    strcmp(routes[i].path, path) == 0)
					break;
			if (i == n)
				fprintf(stderr, "\nin openapi.json, not "
				    "served: %s %s\n", upper, path);
			CU_ASSERT(i < n);
			/* a route that needs a token says so, and back */
			if (i < n)
				CU_ASSERT_EQUAL(routes[i].scope != 0,
				    json_array_size(json_object_get(op,
				    "security")) > 0);
		}
	}
	for (i = 0; i < n; i++) {
		for (j = 0; routes[i].method[j]; j++)
			upper[j] = (char)(routes[i].method[j] - 'A' + 'a');
		upper[j] = '\0';
		item = json_object_get(paths, routes[i].path);
		if (json_object_get(item, upper) == NULL)
			fprintf(stderr, "\nserved, not in openapi.json: %s "
			    "%s\n", routes[i].method, routes[i].path);
		CU_ASSERT_PTR_NOT_NULL(json_object_get(item, upper));
	}
	CU_ASSERT_EQUAL(in_doc, n);
	json_decref(doc);
}

/* The cursor of GET /v1/messages: what it prints it reads back; any
 * other string is refused. */
static void
test_messages_cursor(void)
{
	struct message_info	 m;
	struct message_pos	 pos;
	char			 c[HTTP_CURSOR_MAX];
	static const char *const bad[] = {
		"", "2", "zz", "00000000661f0a0b0123456789abcde",
		"00000000661f0a0b0123456789abcdef0",
		"00000000661f0a0b0123456789ABCDEF",
		"00000000661f0a0b0123456789abcde/",
		"ffffffffffffffff0123456789abcdef",	/* created_at < 0 */
	};
	size_t			 i;

	memset(&m, 0, sizeof(m));
	m.id = "0123456789abcdef";
	m.created_at = 1713310219;
	http_api_cursor_format(&m, c);
	CU_ASSERT_EQUAL(strlen(c), 16 + MESSAGE_ID_LEN);
	CU_ASSERT_EQUAL_FATAL(http_api_cursor_parse(c, &pos), 0);
	CU_ASSERT_EQUAL(pos.created_at, 1713310219);
	CU_ASSERT_STRING_EQUAL(pos.id, "0123456789abcdef");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CU_ASSERT_EQUAL(http_api_cursor_parse(bad[i], &pos), -1);
}

static void
test_errors_scopes(void)
{
	unsigned	 s;
	char		 out[64];

	/* each code its status, and the error object's word for it */
	static const struct {
		enum op_code	 code;
		int		 status;
		const char	*name;
	} st[] = {
		{ OP_BAD_REQUEST, 400, "bad_request" },
		{ OP_NOT_FOUND, 404, "not_found" },
		{ OP_CONFLICT, 409, "conflict" },
		{ OP_TOO_LARGE, 413, "too_large" },
		{ OP_TOO_MANY, 429, "too_many" },
		{ OP_UNAVAILABLE, 503, "unavailable" },
		{ OP_INTERNAL, 500, "internal" },
		{ OP_OK, 500, "internal" },	/* a failure without a code */
	};
	static const int statuses[] = { 400, 401, 403, 404, 405, 409, 413,
	    415, 429, 500, 503 };
	json_error_t	 je;
	json_t		*doc, *codes;
	size_t		 i;

	CU_ASSERT_EQUAL(sizeof(st) / sizeof(st[0]), OP_NCODES);
	for (i = 0; i < sizeof(st) / sizeof(st[0]); i++) {
		CU_ASSERT_EQUAL(http_api_status(st[i].code), st[i].status);
		CU_ASSERT_STRING_EQUAL(http_status_code(st[i].status),
		    st[i].name);
		if (st[i].code != OP_OK)
			CU_ASSERT_STRING_EQUAL(op_code_name(st[i].code),
			    st[i].name);
	}
	CU_ASSERT_EQUAL(http_api_status((enum op_code)99), 500);
	/* every status the API answers has a code openapi.json lists */
	doc = json_loads(http_openapi_json, 0, &je);
	CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
	codes = json_object_get(json_object_get(json_object_get(
	    json_object_get(json_object_get(doc, "components"), "schemas"),
	    "Error"), "properties"), "code");
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		size_t	 k;
		json_t	*v;
		int	 listed = 0;

		json_array_foreach(json_object_get(codes, "enum"), k, v)
			listed |= strcmp(json_string_value(v),
			    http_status_code(statuses[i])) == 0;
		if (!listed)
			fprintf(stderr, "\ncode %s (%d) not in openapi.json\n",
			    http_status_code(statuses[i]), statuses[i]);
		CU_ASSERT(listed);
	}
	json_decref(doc);
	CU_ASSERT_STRING_EQUAL(http_status_code(401), "unauthorized");
	CU_ASSERT_STRING_EQUAL(http_status_code(403), "forbidden");

	CU_ASSERT_EQUAL(token_scopes_parse("publish,read", &s), 0);
	CU_ASSERT_EQUAL(s, SCOPE_PUBLISH | SCOPE_READ);
	CU_ASSERT_EQUAL(token_scopes_parse("admin", &s), 0);
	CU_ASSERT_EQUAL(s, SCOPE_ADMIN);
	CU_ASSERT_EQUAL(token_scopes_parse("", &s), -1);
	CU_ASSERT_EQUAL(token_scopes_parse("read,", &s), 0);
	CU_ASSERT_EQUAL(token_scopes_parse("reader", &s), -1);
	CU_ASSERT_EQUAL(token_scopes_parse("read,write", &s), -1);
	token_scopes_format(SCOPE_ADMIN | SCOPE_PUBLISH, out, sizeof(out));
	CU_ASSERT_STRING_EQUAL(out, "publish,admin");
}

int
test_http_register(void)
{
	CU_pSuite	 s;

	if ((s = CU_add_suite("http", NULL, NULL)) == NULL)
		return -1;
	if (CU_add_test(s, "publish body: valid", test_parse_ok) == NULL ||
	    CU_add_test(s, "publish body: errors", test_parse_bad) == NULL ||
	    CU_add_test(s, "router: paths, methods, parameters",
	    test_match) == NULL ||
	    CU_add_test(s, "router and openapi.json agree",
	    test_openapi) == NULL ||
	    CU_add_test(s, "GET /v1/messages cursor", test_messages_cursor)
	    == NULL ||
	    CU_add_test(s, "error statuses, token scopes",
	    test_errors_scopes) == NULL)
		return -1;
	return 0;
}
