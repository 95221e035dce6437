"""The year's dashboard computed straight from the test upstream's SQLite
file, without the gateway: SQL counts and sums per UTC quarter hour, folded
here into each zone's buckets with Python's own time zone rules (zoneinfo).
bench/replica.py checks the replica's answers against these.

Each function returns what the GraphQL field answers (the `data` value),
in the gateway's order where it has one; compare with `same`.
"""
import datetime, sqlite3, zoneinfo
from collections import defaultdict

FROM, TO = "2025-11-01T00:00:00.000Z", "2026-11-01T00:00:00.000Z"
ACCOUNT = 1
# Seconds of the quarter hour a row's ISO `created_at` falls in.
QUARTER = "(CAST(strftime('%s', substr(created_at, 1, 19)) AS INTEGER) / 900) * 900"
IN_YEAR = f"account_id = {ACCOUNT} AND created_at >= '{FROM}' AND created_at < '{TO}'"
MESSAGE_TYPES = {0: "INCOMING", 1: "OUTGOING", 2: "ACTIVITY", 3: "TEMPLATE"}
UTC = datetime.timezone.utc


class Buckets:
    """A quarter hour's bucket start (as the gateway prints it) per zone and unit."""

    def __init__(self):
        self.memo = {}

    def of(self, quarter, zone, unit):
        key = (quarter, zone, unit)
        if key not in self.memo:
            tz = zoneinfo.ZoneInfo(zone)
            day = datetime.datetime.fromtimestamp(quarter, tz).date()
            if unit == "WEEK":
                day -= datetime.timedelta(days=day.weekday())
            elif unit == "MONTH":
                day = day.replace(day=1)
            start = datetime.datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
            self.memo[key] = start.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return self.memo[key]


class Reference:
    """The rows' answers; the SQL runs once, each zone folds its result."""

    def __init__(self, db_file):
        self.db = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
        self.buckets = Buckets()
        self.cache = {}

    def rows(self, name, sql):
        if name not in self.cache:
            self.cache[name] = self.db.execute(sql).fetchall()
        return self.cache[name]

    def conversations_per_inbox_per_day(self, zone):
        rows = self.rows("a", f"SELECT inbox_id, {QUARTER} AS q, COUNT(*) FROM liveagent_Conversation "
                              f"WHERE {IN_YEAR} GROUP BY 1, 2")
        counts = defaultdict(int)
        for inbox, q, n in rows:
            counts[(inbox, self.buckets.of(q, zone, "DAY"))] += n
        return [{"key": {"inboxId": i, "bucket": b}, "count": n} for (i, b), n in counts.items()]

    def first_reply_per_agent_per_week(self, zone):
        rows = self.rows("b", f"SELECT user_id, {QUARTER} AS q, COUNT(*), COUNT(value), TOTAL(value) "
                              f"FROM liveagent_ReportingEvent WHERE {IN_YEAR} AND name = 'first_reply_created' "
                              "GROUP BY 1, 2")
        sums = defaultdict(lambda: [0, 0, 0.0])
        for user, q, n, valued, total in rows:
            s = sums[(user, self.buckets.of(q, zone, "WEEK"))]
            s[0] += n; s[1] += valued; s[2] += total
        return [{"key": {"userId": u, "bucket": b}, "count": n, "avg": {"value": t / v if v else None}}
                for (u, b), (n, v, t) in sums.items()]

    def messages_per_type_per_month(self, zone):
        rows = self.rows("e", f"SELECT message_type, {QUARTER} AS q, COUNT(*) FROM liveagent_Message "
                              f"WHERE {IN_YEAR} GROUP BY 1, 2")
        counts = defaultdict(int)
        for kind, q, n in rows:
            counts[(MESSAGE_TYPES.get(kind), self.buckets.of(q, zone, "MONTH"))] += n
        return [{"key": {"messageType": k, "bucket": b}, "count": n} for (k, b), n in counts.items()]

    def conversation_counts(self, _zone=None):
        r = self.rows("c", "SELECT COUNT(*), TOTAL(status = 0), TOTAL(status = 1), TOTAL(status = 2), "
                           "TOTAL(status = 3), TOTAL(assignee_id IS NOT NULL), TOTAL(assignee_id IS NULL) "
                           f"FROM liveagent_Conversation WHERE account_id = {ACCOUNT}")[0]
        names = ["all", "open", "resolved", "pending", "snoozed", "assigned", "unassigned"]
        return {name: int(v) for name, v in zip(names, r)}

    def agent_activity_per_week(self, zone):
        """docs/aggregates.md's definitions, per agent and week."""
        rows = defaultdict(lambda: {"conversationsAssigned": set(), "conversationsResolved": set(),
                                    "firstReplies": 0, "valued": 0, "total": 0.0, "messagesSent": 0})
        week = lambda q: self.buckets.of(q, zone, "WEEK")
        events = self.rows("d-events", f"SELECT DISTINCT user_id, name, conversation_id, {QUARTER} "
                                       f"FROM liveagent_ReportingEvent WHERE {IN_YEAR} AND user_id IS NOT NULL "
                                       "AND conversation_id IS NOT NULL "
                                       "AND name IN ('assignee_changed', 'conversation_resolved')")
        for user, name, conversation, q in events:
            field = "conversationsAssigned" if name == "assignee_changed" else "conversationsResolved"
            rows[(user, week(q))][field].add(conversation)
        replies = self.rows("d-replies", f"SELECT user_id, {QUARTER} AS q, COUNT(*), COUNT(value), TOTAL(value) "
                                         f"FROM liveagent_ReportingEvent WHERE {IN_YEAR} AND user_id IS NOT NULL "
                                         "AND name = 'first_reply_created' GROUP BY 1, 2")
        for user, q, n, valued, total in replies:
            row = rows[(user, week(q))]
            row["firstReplies"] += n; row["valued"] += valued; row["total"] += total
        sent = self.rows("d-sent", f"SELECT sender_id, {QUARTER} AS q, COUNT(*) FROM liveagent_Message "
                                   f"WHERE {IN_YEAR} AND sender_id IS NOT NULL AND message_type = 1 "
                                   "AND sender_type = 'User' AND private = 0 GROUP BY 1, 2")
        for user, q, n in sent:
            rows[(user, week(q))]["messagesSent"] += n
        out = []
        for (user, bucket), r in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            out.append({"userId": user, "bucket": bucket,
                        "conversationsAssigned": len(r["conversationsAssigned"]),
                        "conversationsResolved": len(r["conversationsResolved"]),
                        "firstReplies": r["firstReplies"],
                        "avgFirstReplySeconds": r["total"] / r["valued"] if r["valued"] else None,
                        "messagesSent": r["messagesSent"]})
        return out


def close(a, b):
    """Equal JSON, numbers within a relative 1e-9 (sums add up in another order)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    return a == b


def same(a, b):
    """`close`, lists compared in one order (groups keyed alike)."""
    def order(v):
        if isinstance(v, list):
            return sorted(v, key=lambda x: repr(x.get("key", (x.get("bucket"), x.get("userId"))))
                          if isinstance(x, dict) else repr(x))
        return v
    return close(order(a), order(b))
