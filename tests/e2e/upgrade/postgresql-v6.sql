-- A PostgreSQL store written by returnpath 0.1.0 at commit 4bdd7d6 (schema version 6, DKIM keys
-- kept as files: pg6-domains/ beside this file), through its own doors: `init --store`, `domains
-- add example.com`, a loop to a closed port (its posts pending), mail over SMTP to a sink and to a
-- closed port (c@ signed and d@ unsigned, deferred), a DSN to the inbound port. `pg_dump` of it.
-- tests/e2e/test_upgrade.py upgrades it. Released history: never edit, add another.
--
-- PostgreSQL database dump
--

\restrict VTwrrFqgdh8KPSNeXLIK8KpgOuIj0jnETuPbbaIOGAXBxEci2X4tQKyuxJt9xBr

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: accounts; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.accounts (
    id text NOT NULL,
    name text NOT NULL,
    smtp_username text NOT NULL,
    smtp_password_hash text NOT NULL,
    api_token_hash text NOT NULL,
    created_at double precision NOT NULL,
    disabled boolean DEFAULT false NOT NULL,
    sender_domains text DEFAULT '[]'::text NOT NULL
);


ALTER TABLE public.accounts OWNER TO returnpath;

--
-- Name: attempts; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.attempts (
    id bigint NOT NULL,
    delivery_id text NOT NULL,
    number integer NOT NULL,
    "time" double precision NOT NULL,
    remote text,
    step text NOT NULL,
    code integer,
    status text,
    text text NOT NULL,
    verdict text NOT NULL,
    node text DEFAULT ''::text NOT NULL
);


ALTER TABLE public.attempts OWNER TO returnpath;

--
-- Name: attempts_id_seq; Type: SEQUENCE; Schema: public; Owner: returnpath
--

ALTER TABLE public.attempts ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: auth_failures; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.auth_failures (
    key text NOT NULL,
    window_start double precision NOT NULL,
    count integer NOT NULL
);


ALTER TABLE public.auth_failures OWNER TO returnpath;

--
-- Name: auth_logins; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.auth_logins (
    username text NOT NULL,
    address text NOT NULL,
    at double precision NOT NULL
);


ALTER TABLE public.auth_logins OWNER TO returnpath;

--
-- Name: cursors; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.cursors (
    name text NOT NULL,
    value bigint NOT NULL
);


ALTER TABLE public.cursors OWNER TO returnpath;

--
-- Name: deliveries; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.deliveries (
    id text NOT NULL,
    message_id text NOT NULL,
    account_id text NOT NULL,
    recipient text NOT NULL,
    envelope_sender text NOT NULL,
    state text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL,
    next_attempt_at double precision,
    expires_at double precision NOT NULL,
    lease_owner text,
    lease_until double precision
);


ALTER TABLE public.deliveries OWNER TO returnpath;

--
-- Name: domains; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.domains (
    domain text NOT NULL,
    account_id text NOT NULL,
    bounce_domain text NOT NULL,
    created_at double precision NOT NULL,
    rsa_selector text NOT NULL,
    ed25519_selector text NOT NULL,
    pending_rsa_selector text,
    pending_ed25519_selector text,
    state text DEFAULT 'active'::text NOT NULL,
    retired text DEFAULT '[]'::text NOT NULL,
    removed_at double precision
);


ALTER TABLE public.domains OWNER TO returnpath;

--
-- Name: events; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.events (
    id bigint NOT NULL,
    kind text NOT NULL,
    delivery_id text NOT NULL,
    message_id text NOT NULL,
    account_id text NOT NULL,
    "time" double precision NOT NULL,
    data text NOT NULL,
    node text DEFAULT ''::text NOT NULL
);


ALTER TABLE public.events OWNER TO returnpath;

--
-- Name: events_id_seq; Type: SEQUENCE; Schema: public; Owner: returnpath
--

ALTER TABLE public.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: loop_events; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.loop_events (
    loop_id text NOT NULL,
    kind text NOT NULL
);


ALTER TABLE public.loop_events OWNER TO returnpath;

--
-- Name: loop_posts; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.loop_posts (
    id text NOT NULL,
    loop_id text NOT NULL,
    event_id bigint NOT NULL,
    event_time double precision NOT NULL,
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    state text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at double precision,
    last_attempt_at double precision,
    last_status integer,
    last_error text,
    lease_owner text,
    lease_until double precision
);


ALTER TABLE public.loop_posts OWNER TO returnpath;

--
-- Name: loops; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.loops (
    id text NOT NULL,
    account_id text NOT NULL,
    url text NOT NULL,
    format text NOT NULL,
    active boolean NOT NULL,
    secret text NOT NULL,
    previous_secret text,
    previous_until double precision,
    created_at double precision NOT NULL,
    updated_at double precision NOT NULL
);


ALTER TABLE public.loops OWNER TO returnpath;

--
-- Name: messages; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.messages (
    id text NOT NULL,
    account_id text NOT NULL,
    mail_from text NOT NULL,
    envelope text,
    trackbounces boolean NOT NULL,
    tags text NOT NULL,
    maxdelivertime double precision,
    dsn text,
    size integer NOT NULL,
    mime bytea NOT NULL,
    created_at double precision NOT NULL,
    forward_of text,
    purged_at double precision,
    sign_domain text
);


ALTER TABLE public.messages OWNER TO returnpath;

--
-- Name: nodes; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.nodes (
    name text NOT NULL,
    host text NOT NULL,
    pid integer NOT NULL,
    version text NOT NULL,
    listen text NOT NULL,
    started_at double precision NOT NULL,
    heartbeat_at double precision NOT NULL,
    log_holder text,
    log_held_until double precision
);


ALTER TABLE public.nodes OWNER TO returnpath;

--
-- Name: returns; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.returns (
    id text NOT NULL,
    mailfrom text NOT NULL,
    rcptto text NOT NULL,
    deliveries text NOT NULL,
    client text,
    received_at double precision NOT NULL,
    size integer NOT NULL,
    raw bytea NOT NULL,
    state text NOT NULL,
    kind text,
    processed_at double precision,
    lease_owner text,
    lease_until double precision,
    purged_at double precision
);


ALTER TABLE public.returns OWNER TO returnpath;

--
-- Name: schema_version; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.schema_version (
    version integer NOT NULL
);


ALTER TABLE public.schema_version OWNER TO returnpath;

--
-- Name: stored_bytes; Type: TABLE; Schema: public; Owner: returnpath
--

CREATE TABLE public.stored_bytes (
    name text NOT NULL,
    bytes bigint NOT NULL
);


ALTER TABLE public.stored_bytes OWNER TO returnpath;

--
-- Data for Name: accounts; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.accounts (id, name, smtp_username, smtp_password_hash, api_token_hash, created_at, disabled, sender_domains) FROM stdin;
01m8t0qa4ch1bp2p5t209rg5xp	default	default	scrypt$16384$8$1$I8QbbUwmATSlq4RjVrpeXQ==$JeIv/USnZyds989l9J/VHtt8oAGpRG7/uFtTIN0ZuLs=	5ef5de7822043745169962084aa0e8df7339183844d69f2e5f3812c12a858e35	1796169509.0046635	f	[]
\.


--
-- Data for Name: attempts; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.attempts (id, delivery_id, number, "time", remote, step, code, status, text, verdict, node) FROM stdin;
1	01m8t0qqvxb5xxyqv1adrd3q0z	1	1796169523.1944866	127.0.0.1[127.0.0.1]:34526	eom	250	2.0.0	2.0.0 ok	accepted	vm
2	01m8t0qr77s9x87wd3xa9nmkw9	1	1796169523.4540415	127.0.0.1[127.0.0.1]:34526	eom	250	2.0.0	2.0.0 ok	accepted	vm
3	01m8t0qrdmmp98n7papqe5s37v	1	1796169523.6460874	127.0.0.1[127.0.0.1]:39999	connect	\N	4.4.1	connect to 127.0.0.1[127.0.0.1]:39999: Connection refused	temporary	vm
4	01m8t0qrmhydnbmnpndb28bpk2	1	1796169523.8659658	127.0.0.1[127.0.0.1]:39999	connect	\N	4.4.1	connect to 127.0.0.1[127.0.0.1]:39999: Connection refused	temporary	vm
\.


--
-- Data for Name: auth_failures; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.auth_failures (key, window_start, count) FROM stdin;
busy:addr:127.0.0.1	1796169522.8676512	0
busy:user:default	1796169522.8676512	0
\.


--
-- Data for Name: auth_logins; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.auth_logins (username, address, at) FROM stdin;
default	127.0.0.1	1796169523.0542336
\.


--
-- Data for Name: cursors; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.cursors (name, value) FROM stdin;
logs/vm	6
\.


--
-- Data for Name: deliveries; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.deliveries (id, message_id, account_id, recipient, envelope_sender, state, attempts, created_at, updated_at, next_attempt_at, expires_at, lease_owner, lease_until) FROM stdin;
01m8t0qqvxb5xxyqv1adrd3q0z	01m8t0qqvxxhcsgs5b402skkyd	01m8t0qa4ch1bp2p5t209rg5xp	a@sink.example	b01m8t0qqvxb5xxyqv1adrd3q0zt6rfnbx2wghmgdab@bounces.example.com	delivered	1	1796169523.0696335	1796169523.1944866	\N	1796601523.0696335	\N	\N
01m8t0qrdmmp98n7papqe5s37v	01m8t0qrdmqk4j783ay41vvmx6	01m8t0qa4ch1bp2p5t209rg5xp	c@later.example	b01m8t0qrdmmp98n7papqe5s37vdttmy3nf1shyzcjv@bounces.example.com	deferred	1	1796169523.636006	1796169523.6460874	1796169823.6460874	1796601523.636006	\N	\N
01m8t0qrmhydnbmnpndb28bpk2	01m8t0qrmhngem142zvkp0j8p6	01m8t0qa4ch1bp2p5t209rg5xp	d@later.example	b01m8t0qrmhydnbmnpndb28bpk2krhbppzwg1wt6ptw@bounces.example.com	deferred	1	1796169523.857156	1796169523.8659658	1796169823.8659658	1796601523.857156	\N	\N
01m8t0qr77s9x87wd3xa9nmkw9	01m8t0qr77bws99tb8x5jty72c	01m8t0qa4ch1bp2p5t209rg5xp	b@sink.example	b01m8t0qr77s9x87wd3xa9nmkw94pgzntk4rdveeknp@bounces.example.com	failed	1	1796169523.4313414	1796169529.9582107	\N	1796601523.4313414	\N	\N
\.


--
-- Data for Name: domains; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.domains (domain, account_id, bounce_domain, created_at, rsa_selector, ed25519_selector, pending_rsa_selector, pending_ed25519_selector, state, retired, removed_at) FROM stdin;
example.com	01m8t0qa4ch1bp2p5t209rg5xp	bounces.example.com	1796169519.9448295	rp202612	rp202612e	\N	\N	active	[]	\N
\.


--
-- Data for Name: events; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.events (id, kind, delivery_id, message_id, account_id, "time", data, node) FROM stdin;
1	delivery	01m8t0qqvxb5xxyqv1adrd3q0z	01m8t0qqvxxhcsgs5b402skkyd	01m8t0qa4ch1bp2p5t209rg5xp	1796169523.1944866	{"recipient": "a@sink.example", "envelope": "b01m8t0qqvxb5xxyqv1adrd3q0zt6rfnbx2wghmgdab@bounces.example.com", "attempt": 1, "state": "eom", "code": 250, "status": "2.0.0", "description": "2.0.0 ok", "remote": "127.0.0.1[127.0.0.1]:34526", "tags": []}	vm
2	delivery	01m8t0qr77s9x87wd3xa9nmkw9	01m8t0qr77bws99tb8x5jty72c	01m8t0qa4ch1bp2p5t209rg5xp	1796169523.4540415	{"recipient": "b@sink.example", "envelope": "b01m8t0qr77s9x87wd3xa9nmkw94pgzntk4rdveeknp@bounces.example.com", "attempt": 1, "state": "eom", "code": 250, "status": "2.0.0", "description": "2.0.0 ok", "remote": "127.0.0.1[127.0.0.1]:34526", "tags": []}	vm
3	deferred	01m8t0qrdmmp98n7papqe5s37v	01m8t0qrdmqk4j783ay41vvmx6	01m8t0qa4ch1bp2p5t209rg5xp	1796169523.6460874	{"recipient": "c@later.example", "envelope": "b01m8t0qrdmmp98n7papqe5s37vdttmy3nf1shyzcjv@bounces.example.com", "attempt": 1, "state": "connect", "code": null, "status": "4.4.1", "description": "connect to 127.0.0.1[127.0.0.1]:39999: Connection refused", "remote": "127.0.0.1[127.0.0.1]:39999", "tags": [], "retry_at": 1796169823.646}	vm
4	deferred	01m8t0qrmhydnbmnpndb28bpk2	01m8t0qrmhngem142zvkp0j8p6	01m8t0qa4ch1bp2p5t209rg5xp	1796169523.8659658	{"recipient": "d@later.example", "envelope": "b01m8t0qrmhydnbmnpndb28bpk2krhbppzwg1wt6ptw@bounces.example.com", "attempt": 1, "state": "connect", "code": null, "status": "4.4.1", "description": "connect to 127.0.0.1[127.0.0.1]:39999: Connection refused", "remote": "127.0.0.1[127.0.0.1]:39999", "tags": [], "retry_at": 1796169823.866}	vm
5	bounce	01m8t0qr77s9x87wd3xa9nmkw9	01m8t0qr77bws99tb8x5jty72c	01m8t0qa4ch1bp2p5t209rg5xp	1796169529.9582107	{"recipient": "b@sink.example", "envelope": null, "tags": [], "mailfrom": "", "rcptto": ["b01m8t0qr77s9x87wd3xa9nmkw94pgzntk4rdveeknp@bounces.example.com"], "kind": "dsn", "return": "01m8t0qyhqca14dhdsfnnh27x0", "raw": "returnpath returned 01m8t0qyhqca14dhdsfnnh27x0", "reason": "userunknown", "status": "5.1.1"}	vm
6	failure	01m8t0qr77s9x87wd3xa9nmkw9	01m8t0qr77bws99tb8x5jty72c	01m8t0qa4ch1bp2p5t209rg5xp	1796169529.9582107	{"recipient": "b@sink.example", "envelope": null, "tags": [], "type": "async", "state": "bounce", "action": "failed", "dsn": true, "status": "5.1.1", "code": 550, "description": "550 5.1.1 <b@sink.example>: user unknown", "remote": null, "command": null, "reason": "userunknown", "hard": true, "rule": "dsn:Status -> status 5.1.1"}	vm
\.


--
-- Data for Name: loop_events; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.loop_events (loop_id, kind) FROM stdin;
01m8t0qpkdg13yvbmp6b7rjj8g	bounce
01m8t0qpkdg13yvbmp6b7rjj8g	deferred
01m8t0qpkdg13yvbmp6b7rjj8g	delivery
01m8t0qpkdg13yvbmp6b7rjj8g	failure
\.


--
-- Data for Name: loop_posts; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.loop_posts (id, loop_id, event_id, event_time, created_at, expires_at, state, attempts, next_attempt_at, last_attempt_at, last_status, last_error, lease_owner, lease_until) FROM stdin;
01m8t0qr7yb7wn0hxm1tfy61x2	01m8t0qpkdg13yvbmp6b7rjj8g	2	1796169523.4540415	1796169523.4540415	1796428723.4540415	pending	2	1796169546.110131	1796169527.9680426	\N	cannot connect: [Errno 111] Connect call failed ('127.0.0.1', 39998)	\N	\N
01m8t0qqzt9f0y6p2arwzmdz7f	01m8t0qpkdg13yvbmp6b7rjj8g	1	1796169523.1944866	1796169523.1944866	1796428723.1944866	pending	3	1796169536.4988606	1796169529.0637717	\N	cannot connect: [Errno 111] Connect call failed ('127.0.0.1', 39998)	\N	\N
01m8t0qrms01s65yz8qymc0cy1	01m8t0qpkdg13yvbmp6b7rjj8g	4	1796169523.8659658	1796169523.8659658	1796428723.8659658	pending	2	1796169546.6023397	1796169530.0741813	\N	cannot connect: [Errno 111] Connect call failed ('127.0.0.1', 39998)	\N	\N
01m8t0qyk6vhpcxmzafzwnefhh	01m8t0qpkdg13yvbmp6b7rjj8g	5	1796169529.9582107	1796169529.9582107	1796428729.9582107	pending	1	1796169534.0842068	1796169530.0743866	\N	cannot connect: [Errno 111] Connect call failed ('127.0.0.1', 39998)	\N	\N
01m8t0qrdyx9m7k66pym9mdfqa	01m8t0qpkdg13yvbmp6b7rjj8g	3	1796169523.6460874	1796169523.6460874	1796428723.6460874	pending	2	1796169536.1773016	1796169531.0979896	\N	cannot connect: [Errno 111] Connect call failed ('127.0.0.1', 39998)	\N	\N
01m8t0qyk60xzxb4nxf3x3z939	01m8t0qpkdg13yvbmp6b7rjj8g	6	1796169529.9582107	1796169529.9582107	1796428729.9582107	pending	2	1796169535.421707	1796169533.0383046	\N	cannot connect: [Errno 111] Connect call failed ('127.0.0.1', 39998)	\N	\N
\.


--
-- Data for Name: loops; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.loops (id, account_id, url, format, active, secret, previous_secret, previous_until, created_at, updated_at) FROM stdin;
01m8t0qpkdg13yvbmp6b7rjj8g	01m8t0qa4ch1bp2p5t209rg5xp	http://127.0.0.1:39998/hook	form	t	whsec_ynb7/9u2YE8PDBJA9CAdws6+YoJUwjNY	\N	\N	1796169521.7735064	1796169521.7735064
\.


--
-- Data for Name: messages; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.messages (id, account_id, mail_from, envelope, trackbounces, tags, maxdelivertime, dsn, size, mime, created_at, forward_of, purged_at, sign_domain) FROM stdin;
01m8t0qqvxxhcsgs5b402skkyd	01m8t0qa4ch1bp2p5t209rg5xp	news@example.com	\N	t	[]	\N	\N	1147	\\x444b494d2d5369676e61747572653a20763d313b20613d7273612d7368613235363b20633d72656c617865642f72656c617865643b20643d6578616d706c652e636f6d3b0d0a09733d72703230323631323b20743d313739363136393532333b20683d66726f6d3a66726f6d3a746f3a7375626a6563743a646174653a6d6573736167652d69643b0d0a0962683d6b4156305a42546d5455304632547252736635706833554d7259493456616535636579636a726e6939374d3d3b20623d4b366773536b2f624b453664344c616e3257724e5053377278740d0a09364135674c4f55666772485633334d7857716368344b70755032395066485150775a32687755746b4637623362636e547731415a65624f4843566e54644a394a704b4e786c504269364b4c51660d0a095973704f3858356147446c564971614738434e4463447a46712f6e4b757a35356d776233567638744153324c4c6b5039344a63747a74453251734a675a62365137556a3456574832456c4463320d0a09702f54526a584137514548796b473832366531456b76785871344152766471354331337270614b4a62634b514c576a72415a72662f4c486130506969466d6c53564b6a5a66665959486b6f36550d0a0933542b734e4650796164676d504d766375614a525841737855565a47424f7045435a474c62416768775842676669562b58566c584252734d55777031465a3431314c30616e2b676c6f4a4170430d0a096338776e593430413d3d0d0a444b494d2d5369676e61747572653a20763d313b20613d656432353531392d7368613235363b20633d72656c617865642f72656c617865643b20643d6578616d706c652e636f6d3b0d0a09733d7270323032363132653b20743d313739363136393532333b20683d66726f6d3a66726f6d3a746f3a7375626a6563743a646174653a6d6573736167652d69643b0d0a0962683d6b4156305a42546d5455304632547252736635706833554d7259493456616535636579636a726e6939374d3d3b20623d2f4b3376694c5139366f4d657159356971456c2b787a797354470d0a096c566f32494c554c506e6a4e6d726f724b64776c3831456f54726d7879474c464a483843386e772f364734424953734168707a42436451766c4543413d3d0d0a52656365697665643a2066726f6d205b3132372e302e302e315d20285b3132372e302e302e315d290d0a096279206c6f63616c686f7374202872657475726e706174682920776974682045534d545053412069642030316d387430717176787868637367733562343032736b6b79643b0d0a095475652c2030312044656320323032362032333a35383a3433202b303030300d0a4d6573736167652d49443a203c30316d387430717176787868637367733562343032736b6b7964406c6f63616c686f73743e0d0a446174653a205475652c2030312044656320323032362032333a35383a3433202b303030300d0a46726f6d3a206e657773406578616d706c652e636f6d0d0a546f3a20614073696e6b2e6578616d706c650d0a5375626a6563743a2070310d0a0d0a68656c6c6f2070310d0a	1796169523.0696335	\N	\N	\N
01m8t0qr77bws99tb8x5jty72c	01m8t0qa4ch1bp2p5t209rg5xp	news@example.com	\N	t	[]	\N	\N	1147	\\x444b494d2d5369676e61747572653a20763d313b20613d7273612d7368613235363b20633d72656c617865642f72656c617865643b20643d6578616d706c652e636f6d3b0d0a09733d72703230323631323b20743d313739363136393532333b20683d66726f6d3a66726f6d3a746f3a7375626a6563743a646174653a6d6573736167652d69643b0d0a0962683d6d33547039516d516c427a57726a6b327465454438303853363571705841486c716741526c6a5759776e553d3b20623d79784574645147656639536d6a47376d6f43493247444869706a0d0a0955474150462b5a6e697a4f692f6e6130744f674a6c32456d6578714c655661517861697077617276656862582f624844386a444b6e4c596f637a4145372b6a527363786e38506c5758425751470d0a095565484234796265775667307a394533696455453171734b4b66674c582f3532444278366349774c6a4c74586d6e515a7a414a423651764275337a6f433371427a70714b6a597772672b2f41750d0a092b43544c5769532b42675a37436d6c47796b36474e6d687a51352b545645706d78567a64566e7838735a7155464f326f3552455043464c664730525a6d6f5869774c75695057486f7165737a650d0a0949726f644d506553527a367664787573314c736a6a514474776f3363414d4f2f6653393442756f526d387877795763364a596f717247736e52326e684c7974626e5973667641644f5365474b790d0a0977794156425830513d3d0d0a444b494d2d5369676e61747572653a20763d313b20613d656432353531392d7368613235363b20633d72656c617865642f72656c617865643b20643d6578616d706c652e636f6d3b0d0a09733d7270323032363132653b20743d313739363136393532333b20683d66726f6d3a66726f6d3a746f3a7375626a6563743a646174653a6d6573736167652d69643b0d0a0962683d6d33547039516d516c427a57726a6b327465454438303853363571705841486c716741526c6a5759776e553d3b20623d7164664771344f506c62444d5272735370755a2f747578685a690d0a09344c4f343567497a554a4e6159527a5148584d457a5a5952614e72534f6f64693358754368346870765232416158544f4e424c536e4f467a4a7142673d3d0d0a52656365697665643a2066726f6d205b3132372e302e302e315d20285b3132372e302e302e315d290d0a096279206c6f63616c686f7374202872657475726e706174682920776974682045534d545053412069642030316d38743071723737627773393974623878356a74793732633b0d0a095475652c2030312044656320323032362032333a35383a3433202b303030300d0a4d6573736167652d49443a203c30316d38743071723737627773393974623878356a7479373263406c6f63616c686f73743e0d0a446174653a205475652c2030312044656320323032362032333a35383a3433202b303030300d0a46726f6d3a206e657773406578616d706c652e636f6d0d0a546f3a20624073696e6b2e6578616d706c650d0a5375626a6563743a2070320d0a0d0a68656c6c6f2070320d0a	1796169523.4313414	\N	\N	\N
01m8t0qrdmqk4j783ay41vvmx6	01m8t0qa4ch1bp2p5t209rg5xp	news@example.com	\N	t	[]	\N	\N	1176	\\x444b494d2d5369676e61747572653a20763d313b20613d7273612d7368613235363b20633d72656c617865642f72656c617865643b20643d6578616d706c652e636f6d3b0d0a09733d72703230323631323b20743d313739363136393532333b20683d66726f6d3a66726f6d3a746f3a7375626a6563743a646174653a6d6573736167652d69643b0d0a0962683d7367394d396537324b464b5333566e517a7469714356303349343369746e41655856702f326b494454756b3d3b20623d785653502f536a785a2b507a2b732b514a7330435661303263640d0a094972557238484745414a5936534f2f763033396b383330376147413455794272584358647862524f66473258684a7635584a72497571394c4a37442f43756f6e6a665a6537357a6b55726e524b0d0a09317454363574466b4167325a656532665247676b6c4d6a56752f3847694c485049744933365058653150636166792b466f6c67444271303832704677474d79306462345143324f62696b7541550d0a09743271534c516a4f4d4c7164442b6b7768523839453145617a6e4968614254456b2b65375954494452326e4653424b745a355051483257367143626a4263366a6d4f624559684c45524e3859440d0a09335539433138445262646e6d593668544353707536513975306d444d61482b566c6a594c3248614e3938507235504651492b2b44747a6233356d70452b2b424c4c636948583858462b4f5149670d0a09566a6d49484569513d3d0d0a444b494d2d5369676e61747572653a20763d313b20613d656432353531392d7368613235363b20633d72656c617865642f72656c617865643b20643d6578616d706c652e636f6d3b0d0a09733d7270323032363132653b20743d313739363136393532333b20683d66726f6d3a66726f6d3a746f3a7375626a6563743a646174653a6d6573736167652d69643b0d0a0962683d7367394d396537324b464b5333566e517a7469714356303349343369746e41655856702f326b494454756b3d3b20623d7159534855686b42594a6337426b78677a43342f4c483443484e0d0a092f3078734e7938697a314252576233576867595657474c374172562b596a6e7a327743474c384e6279514e6e336a6276583968726e78644e567a43413d3d0d0a52656365697665643a2066726f6d205b3132372e302e302e315d20285b3132372e302e302e315d290d0a096279206c6f63616c686f7374202872657475726e706174682920776974682045534d545053412069642030316d3874307172646d716b346a3738336179343176766d78363b0d0a095475652c2030312044656320323032362032333a35383a3433202b303030300d0a4d6573736167652d49443a203c30316d3874307172646d716b346a3738336179343176766d7836406c6f63616c686f73743e0d0a446174653a205475652c2030312044656320323032362032333a35383a3433202b303030300d0a46726f6d3a206e657773406578616d706c652e636f6d0d0a546f3a2063406c617465722e6578616d706c650d0a5375626a6563743a2070332d7175657565642d7369676e65640d0a0d0a68656c6c6f2070332d7175657565642d7369676e65640d0a	1796169523.636006	\N	\N	\N
01m8t0qrmhngem142zvkp0j8p6	01m8t0qa4ch1bp2p5t209rg5xp	o@other.example	\N	t	[]	\N	\N	322	\\x52656365697665643a2066726f6d205b3132372e302e302e315d20285b3132372e302e302e315d290d0a096279206c6f63616c686f7374202872657475726e706174682920776974682045534d545053412069642030316d38743071726d686e67656d3134327a766b70306a3870363b0d0a095475652c2030312044656320323032362032333a35383a3433202b303030300d0a4d6573736167652d49443a203c30316d38743071726d686e67656d3134327a766b70306a387036406c6f63616c686f73743e0d0a446174653a205475652c2030312044656320323032362032333a35383a3433202b303030300d0a46726f6d3a206f406f746865722e6578616d706c650d0a546f3a2064406c617465722e6578616d706c650d0a5375626a6563743a2070342d7175657565640d0a0d0a68656c6c6f2070342d7175657565640d0a	1796169523.857156	\N	\N	\N
\.


--
-- Data for Name: nodes; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.nodes (name, host, pid, version, listen, started_at, heartbeat_at, log_holder, log_held_until) FROM stdin;
vm	vm	26776	0.1.0	submission=127.0.0.1:39587 inbound=127.0.0.1:39525 http=127.0.0.1:39880	1796169511.7400272	1796169532.3498065	vm	1796169587.683419
\.


--
-- Data for Name: returns; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.returns (id, mailfrom, rcptto, deliveries, client, received_at, size, raw, state, kind, processed_at, lease_owner, lease_until, purged_at) FROM stdin;
01m8t0qyhqca14dhdsfnnh27x0		["b01m8t0qr77s9x87wd3xa9nmkw94pgzntk4rdveeknp@bounces.example.com"]	["01m8t0qr77s9x87wd3xa9nmkw9"]	127.0.0.1	1796169529.9112773	545	\\x46726f6d3a204d41494c45522d4441454d4f4e4073696e6b2e6578616d706c650d0a546f3a206230316d3874307172373773397838377764337861396e6d6b77393470677a6e746b3472647665656b6e7040626f756e6365732e6578616d706c652e636f6d0d0a5375626a6563743a20556e64656c697665726564204d61696c2052657475726e656420746f2053656e6465720d0a4d494d452d56657273696f6e3a20312e300d0a436f6e74656e742d547970653a206d756c7469706172742f7265706f72743b207265706f72742d747970653d64656c69766572792d7374617475733b20626f756e646172793d2242220d0a0d0a2d2d420d0a436f6e74656e742d547970653a20746578742f706c61696e0d0a0d0a546865206d61696c20636f756c64206e6f742062652064656c6976657265642e0d0a0d0a2d2d420d0a436f6e74656e742d547970653a206d6573736167652f64656c69766572792d7374617475730d0a0d0a5265706f7274696e672d4d54413a20646e733b206d782e73696e6b2e6578616d706c650d0a0d0a46696e616c2d526563697069656e743a207266633832323b20624073696e6b2e6578616d706c650d0a416374696f6e3a206661696c65640d0a5374617475733a20352e312e310d0a446961676e6f737469632d436f64653a20736d74703b2035353020352e312e31203c624073696e6b2e6578616d706c653e3a207573657220756e6b6e6f776e0d0a0d0a2d2d422d2d0d0a	processed	dsn	1796169529.9582107	\N	\N	\N
\.


--
-- Data for Name: schema_version; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.schema_version (version) FROM stdin;
6
\.


--
-- Data for Name: stored_bytes; Type: TABLE DATA; Schema: public; Owner: returnpath
--

COPY public.stored_bytes (name, bytes) FROM stdin;
returns	545
\.


--
-- Name: attempts_id_seq; Type: SEQUENCE SET; Schema: public; Owner: returnpath
--

SELECT pg_catalog.setval('public.attempts_id_seq', 4, true);


--
-- Name: events_id_seq; Type: SEQUENCE SET; Schema: public; Owner: returnpath
--

SELECT pg_catalog.setval('public.events_id_seq', 6, true);


--
-- Name: accounts accounts_api_token_hash_key; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_api_token_hash_key UNIQUE (api_token_hash);


--
-- Name: accounts accounts_name_key; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_name_key UNIQUE (name);


--
-- Name: accounts accounts_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_pkey PRIMARY KEY (id);


--
-- Name: accounts accounts_smtp_username_key; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.accounts
    ADD CONSTRAINT accounts_smtp_username_key UNIQUE (smtp_username);


--
-- Name: attempts attempts_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.attempts
    ADD CONSTRAINT attempts_pkey PRIMARY KEY (id);


--
-- Name: auth_failures auth_failures_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.auth_failures
    ADD CONSTRAINT auth_failures_pkey PRIMARY KEY (key);


--
-- Name: auth_logins auth_logins_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.auth_logins
    ADD CONSTRAINT auth_logins_pkey PRIMARY KEY (username, address);


--
-- Name: cursors cursors_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.cursors
    ADD CONSTRAINT cursors_pkey PRIMARY KEY (name);


--
-- Name: deliveries deliveries_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (id);


--
-- Name: domains domains_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.domains
    ADD CONSTRAINT domains_pkey PRIMARY KEY (domain);


--
-- Name: events events_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.events
    ADD CONSTRAINT events_pkey PRIMARY KEY (id);


--
-- Name: loop_events loop_events_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.loop_events
    ADD CONSTRAINT loop_events_pkey PRIMARY KEY (loop_id, kind);


--
-- Name: loop_posts loop_posts_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.loop_posts
    ADD CONSTRAINT loop_posts_pkey PRIMARY KEY (id);


--
-- Name: loops loops_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.loops
    ADD CONSTRAINT loops_pkey PRIMARY KEY (id);


--
-- Name: messages messages_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.messages
    ADD CONSTRAINT messages_pkey PRIMARY KEY (id);


--
-- Name: nodes nodes_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.nodes
    ADD CONSTRAINT nodes_pkey PRIMARY KEY (name);


--
-- Name: returns returns_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.returns
    ADD CONSTRAINT returns_pkey PRIMARY KEY (id);


--
-- Name: stored_bytes stored_bytes_pkey; Type: CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.stored_bytes
    ADD CONSTRAINT stored_bytes_pkey PRIMARY KEY (name);


--
-- Name: attempts_delivery; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX attempts_delivery ON public.attempts USING btree (delivery_id);


--
-- Name: auth_failures_window; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX auth_failures_window ON public.auth_failures USING btree (window_start);


--
-- Name: auth_logins_at; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX auth_logins_at ON public.auth_logins USING btree (at);


--
-- Name: deliveries_account; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX deliveries_account ON public.deliveries USING btree (account_id);


--
-- Name: deliveries_due; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX deliveries_due ON public.deliveries USING btree (next_attempt_at) WHERE (next_attempt_at IS NOT NULL);


--
-- Name: deliveries_lease; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX deliveries_lease ON public.deliveries USING btree (lease_owner) WHERE (lease_owner IS NOT NULL);


--
-- Name: deliveries_message; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX deliveries_message ON public.deliveries USING btree (message_id);


--
-- Name: domains_account; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX domains_account ON public.domains USING btree (account_id);


--
-- Name: events_account; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX events_account ON public.events USING btree (account_id, id);


--
-- Name: events_delivery; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX events_delivery ON public.events USING btree (delivery_id);


--
-- Name: events_node; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX events_node ON public.events USING btree (node, id);


--
-- Name: events_time; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX events_time ON public.events USING btree ("time");


--
-- Name: loop_posts_event; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX loop_posts_event ON public.loop_posts USING btree (event_id);


--
-- Name: loop_posts_finished; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX loop_posts_finished ON public.loop_posts USING btree (state, last_attempt_at) WHERE (state <> 'pending'::text);


--
-- Name: loop_posts_lease; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX loop_posts_lease ON public.loop_posts USING btree (lease_owner) WHERE (lease_owner IS NOT NULL);


--
-- Name: loop_posts_loop; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX loop_posts_loop ON public.loop_posts USING btree (loop_id, state, event_time);


--
-- Name: loop_posts_pending; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX loop_posts_pending ON public.loop_posts USING btree (loop_id, event_time, event_id) WHERE (state = 'pending'::text);


--
-- Name: loops_account; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX loops_account ON public.loops USING btree (account_id);


--
-- Name: messages_forwards; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX messages_forwards ON public.messages USING btree (account_id, created_at) WHERE (forward_of IS NOT NULL);


--
-- Name: messages_kept; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX messages_kept ON public.messages USING btree (created_at) WHERE (purged_at IS NULL);


--
-- Name: returns_kept; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX returns_kept ON public.returns USING btree (received_at) WHERE (purged_at IS NULL);


--
-- Name: returns_lease; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX returns_lease ON public.returns USING btree (lease_owner) WHERE (lease_owner IS NOT NULL);


--
-- Name: returns_new; Type: INDEX; Schema: public; Owner: returnpath
--

CREATE INDEX returns_new ON public.returns USING btree (received_at) WHERE (state = 'new'::text);


--
-- Name: deliveries deliveries_message_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.deliveries
    ADD CONSTRAINT deliveries_message_id_fkey FOREIGN KEY (message_id) REFERENCES public.messages(id);


--
-- Name: domains domains_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.domains
    ADD CONSTRAINT domains_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id);


--
-- Name: loop_events loop_events_loop_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.loop_events
    ADD CONSTRAINT loop_events_loop_id_fkey FOREIGN KEY (loop_id) REFERENCES public.loops(id) ON DELETE CASCADE;


--
-- Name: loop_posts loop_posts_loop_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.loop_posts
    ADD CONSTRAINT loop_posts_loop_id_fkey FOREIGN KEY (loop_id) REFERENCES public.loops(id) ON DELETE CASCADE;


--
-- Name: loops loops_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.loops
    ADD CONSTRAINT loops_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id);


--
-- Name: messages messages_account_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: returnpath
--

ALTER TABLE ONLY public.messages
    ADD CONSTRAINT messages_account_id_fkey FOREIGN KEY (account_id) REFERENCES public.accounts(id);


--
-- PostgreSQL database dump complete
--

\unrestrict VTwrrFqgdh8KPSNeXLIK8KpgOuIj0jnETuPbbaIOGAXBxEci2X4tQKyuxJt9xBr

