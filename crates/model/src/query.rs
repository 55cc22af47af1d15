//! List queries: filters, `fields=`, sorting and pagination, parsed and applied as Neutron's
//! API layer does (`api_common.get_filters`, `get_sorts`, `get_pagination_links`).
//!
//! Parsing validates every key against the attribute map (`filter-validation`,
//! `sort-key-validation`), so a typo is a 400 rather than a silently unfiltered list.
//! Applying works on rendered wire objects; the store narrows the candidate set first with
//! indexed columns where it can.

use crate::error::ApiError;
use crate::pystr::py_repr;
use crate::resources::ResourceDef;
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// One filter condition; conditions are ANDed, values within one are ORed.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `?attr=v1&attr=v2`: the attribute equals one of the values.
    Eq { attr: String, values: Vec<Value> },
    /// `?fixed_ips=ip_address=..&fixed_ips=subnet_id=..`: one fixed IP matches every given key.
    FixedIps { ip_address: Vec<String>, subnet_id: Vec<String>, ip_address_substr: Vec<String> },
    /// `tags=a,b`: has all.
    TagsAll(Vec<String>),
    /// `tags-any=a,b`: has at least one.
    TagsAny(Vec<String>),
    /// `not-tags=a,b`: does not have all of them.
    NotTagsAll(Vec<String>),
    /// `not-tags-any=a,b`: has none of them.
    NotTagsAny(Vec<String>),
    /// `changed_since=<ts>`: updated at or after the timestamp.
    ChangedSince(String),
}

/// A parsed list request.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Conditions, ANDed.
    pub filters: Vec<Filter>,
    /// `fields=`; empty means all.
    pub fields: Vec<String>,
    /// Sort keys with ascending flag; `id` is appended when paginating.
    pub sorts: Vec<(String, bool)>,
    /// Page size.
    pub limit: Option<usize>,
    /// Id of the last item of the previous page.
    pub marker: Option<String>,
    /// Page backwards from the marker.
    pub page_reverse: bool,
    /// The original query pairs, for building links.
    pub raw: Vec<(String, String)>,
}

impl ListQuery {
    /// Parses query pairs for a collection of `def`.
    pub fn parse(def: &ResourceDef, pairs: Vec<(String, String)>, max_limit: Option<usize>) -> Result<Self, ApiError> {
        let mut q = ListQuery { raw: pairs.clone(), ..Default::default() };
        // Unknown keys in first-seen order; the set keeps a URL of thousands of them linear.
        let mut invalid: Vec<String> = Vec::new();
        let mut invalid_seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let mut eq: Vec<(String, Vec<Value>)> = Vec::new();
        let mut fixed = (Vec::new(), Vec::new(), Vec::new());
        let mut sort_keys = Vec::new();
        let mut sort_dirs = Vec::new();
        for (key, value) in &pairs {
            match key.as_str() {
                "fields" => {
                    if !value.is_empty() {
                        q.fields.push(value.clone());
                    }
                }
                "sort_key" => sort_keys.push(value.clone()),
                "sort_dir" => sort_dirs.push(value.clone()),
                "limit" => q.limit = parse_limit(value)?,
                "marker" => q.marker = Some(value.clone()),
                "page_reverse" => q.page_reverse = value.eq_ignore_ascii_case("true"),
                "tags" => q.filters.push(Filter::TagsAll(split_tags(value))),
                "tags-any" => q.filters.push(Filter::TagsAny(split_tags(value))),
                "not-tags" => q.filters.push(Filter::NotTagsAll(split_tags(value))),
                "not-tags-any" => q.filters.push(Filter::NotTagsAny(split_tags(value))),
                "changed_since" => q.filters.push(Filter::ChangedSince(parse_timestamp(value)?)),
                "fixed_ips" if def.attr("fixed_ips").is_some() => {
                    let Some((k, v)) = value.split_once('=') else {
                        return Err(ApiError::invalid_input(format!("'{value}' is not of the form <key>=[value]")));
                    };
                    match k {
                        "ip_address" => fixed.0.push(canonical_ip(v)),
                        "subnet_id" => fixed.1.push(v.to_string()),
                        "ip_address_substr" => fixed.2.push(v.to_string()),
                        _ => {}
                    }
                }
                _ => {
                    let Some(attr) = def.attr(key).filter(|a| a.filter) else {
                        if invalid_seen.insert(key.as_str()) {
                            invalid.push(key.clone());
                        }
                        continue;
                    };
                    let converted = attr.filter_value(value)?;
                    match eq.iter_mut().find(|(k, _)| k == key) {
                        Some((_, values)) => values.push(converted),
                        None => eq.push((key.clone(), vec![converted])),
                    }
                }
            }
        }
        if !invalid.is_empty() {
            let shown = Value::Array(invalid.into_iter().map(Value::String).collect());
            return Err(ApiError::bad_request(format!("{} is invalid attribute for filtering", py_repr(&shown))));
        }
        if !(fixed.0.is_empty() && fixed.1.is_empty() && fixed.2.is_empty()) {
            q.filters.push(Filter::FixedIps { ip_address: fixed.0, subnet_id: fixed.1, ip_address_substr: fixed.2 });
        }
        q.filters.extend(eq.into_iter().map(|(attr, values)| Filter::Eq { attr, values }));
        q.sorts = parse_sorts(def, sort_keys, sort_dirs)?;
        if let Some(max) = max_limit {
            q.limit = Some(q.limit.map_or(max, |l| l.min(max)));
        }
        if q.limit.is_some() && !q.sorts.iter().any(|(k, _)| k == "id") {
            q.sorts.push(("id".into(), true));
        }
        Ok(q)
    }

    /// The equality values asked for `attr`, when the query constrains it (for index use).
    pub fn eq_values(&self, attr: &str) -> Option<&[Value]> {
        self.filters.iter().find_map(|f| match f {
            Filter::Eq { attr: a, values } if a == attr => Some(values.as_slice()),
            _ => None,
        })
    }

    /// Whether `item` satisfies every filter.
    pub fn matches(&self, item: &Map<String, Value>) -> bool {
        self.filters.iter().all(|f| filter_matches(f, item))
    }

    /// Sorts, applies the marker and the page size. `marker_item` is the object the marker
    /// names (the caller looks it up so an unknown marker is a 404).
    pub fn paginate(
        &self,
        mut items: Vec<Map<String, Value>>,
        marker_item: Option<&Map<String, Value>>,
    ) -> Vec<Map<String, Value>> {
        if self.sorts.is_empty() {
            return items;
        }
        let reverse = self.page_reverse;
        let cmp = |a: &Map<String, Value>, b: &Map<String, Value>| -> Ordering {
            for (key, asc) in &self.sorts {
                let ord = compare_values(a.get(key), b.get(key));
                let ord = if *asc != reverse { ord } else { ord.reverse() };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        };
        items.sort_by(cmp);
        if let Some(marker) = marker_item {
            items.retain(|item| cmp(item, marker) == Ordering::Greater);
        }
        if let Some(limit) = self.limit {
            items.truncate(limit);
        }
        if reverse {
            items.reverse();
        }
        items
    }

    /// `<collection>_links` for a page, or `None` when not paginating.
    pub fn links(&self, self_url: &str, items: &[Map<String, Value>]) -> Option<Vec<Value>> {
        let limit = self.limit?;
        let mut links = Vec::new();
        let short = items.len() < limit;
        if !short || self.page_reverse {
            let mut params: Vec<(String, String)> =
                self.raw.iter().filter(|(k, _)| k != "marker" && k != "page_reverse").cloned().collect();
            if let Some(last) = items.last().and_then(|i| i.get("id")).and_then(Value::as_str) {
                params.push(("marker".into(), last.into()));
            }
            links.push(serde_json::json!({"rel": "next", "href": format!("{self_url}?{}", encode(&params))}));
        }
        if !short || !self.page_reverse {
            let mut params: Vec<(String, String)> =
                self.raw.iter().filter(|(k, _)| k != "marker" && k != "page_reverse").cloned().collect();
            if let Some(first) = items.first().and_then(|i| i.get("id")).and_then(Value::as_str) {
                params.push(("marker".into(), first.into()));
            }
            params.push(("page_reverse".into(), "True".into()));
            links.push(serde_json::json!({"rel": "previous", "href": format!("{self_url}?{}", encode(&params))}));
        }
        Some(links)
    }

    /// Keeps only the requested fields (all when none were asked for).
    pub fn select_fields(&self, item: Map<String, Value>) -> Map<String, Value> {
        if self.fields.is_empty() {
            return item;
        }
        item.into_iter().filter(|(k, _)| self.fields.iter().any(|f| f == k)).collect()
    }
}

/// Keeps only `fields` of a single shown object (`GET /x/{id}?fields=`).
pub fn fields_of(pairs: &[(String, String)]) -> Vec<String> {
    pairs.iter().filter(|(k, v)| k == "fields" && !v.is_empty()).map(|(_, v)| v.clone()).collect()
}

fn parse_limit(value: &str) -> Result<Option<usize>, ApiError> {
    match value.trim().parse::<i64>() {
        Ok(0) => Ok(None),
        Ok(n) if n > 0 => Ok(Some(n as usize)),
        _ => {
            Err(ApiError::bad_request_for("limit", format!("Limit must be an integer 0 or greater and not '{value}'")))
        }
    }
}

fn parse_sorts(def: &ResourceDef, keys: Vec<String>, dirs: Vec<String>) -> Result<Vec<(String, bool)>, ApiError> {
    if keys.len() != dirs.len() {
        return Err(ApiError::bad_request("The number of sort_keys and sort_dirs must be same"));
    }
    let absent: Vec<Value> =
        keys.iter().filter(|k| !def.attr(k).is_some_and(|a| a.sort)).map(|k| Value::String(k.clone())).collect();
    if !absent.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{} is invalid attribute for sort_keys",
            py_repr(&Value::Array(absent))
        )));
    }
    let invalid: Vec<Value> =
        dirs.iter().filter(|d| *d != "asc" && *d != "desc").map(|d| Value::String(d.clone())).collect();
    if !invalid.is_empty() {
        return Err(ApiError::bad_request(format!(
            "{} is invalid value for sort_dirs, valid value is 'asc' and 'desc'",
            py_repr(&Value::Array(invalid))
        )));
    }
    Ok(keys.into_iter().zip(dirs.iter().map(|d| d == "asc")).collect())
}

fn split_tags(value: &str) -> Vec<String> {
    value.split(',').filter(|t| !t.is_empty()).map(str::to_string).collect()
}

fn canonical_ip(s: &str) -> String {
    s.parse::<std::net::IpAddr>().map(|ip| ip.to_string()).unwrap_or_else(|_| s.to_string())
}

/// Normalises `changed_since` to our stored timestamp form for string comparison.
fn parse_timestamp(value: &str) -> Result<String, ApiError> {
    let v = value.trim();
    let core = v.strip_suffix('Z').or_else(|| v.strip_suffix("+00:00")).unwrap_or(v);
    let core = core.split('.').next().unwrap_or(core);
    let bytes = core.as_bytes();
    let shape_ok = bytes.len() == 19
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T' || *b == b' ',
            13 | 16 => *b == b':',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(ApiError::invalid_input(format!("{value} is not a valid ISO 8601 timestamp for changed_since")));
    }
    Ok(format!("{}T{}Z", &core[..10], &core[11..]))
}

fn filter_matches(filter: &Filter, item: &Map<String, Value>) -> bool {
    match filter {
        Filter::Eq { attr, values } => {
            let actual = item.get(attr).unwrap_or(&Value::Null);
            values.iter().any(|v| value_eq(actual, v))
        }
        Filter::FixedIps { ip_address, subnet_id, ip_address_substr } => {
            let Some(Value::Array(ips)) = item.get("fixed_ips") else { return false };
            ips.iter().any(|ip| {
                let addr = ip.get("ip_address").and_then(Value::as_str).unwrap_or("");
                let subnet = ip.get("subnet_id").and_then(Value::as_str).unwrap_or("");
                (ip_address.is_empty() || ip_address.iter().any(|a| a == addr))
                    && (subnet_id.is_empty() || subnet_id.iter().any(|s| s == subnet))
                    && (ip_address_substr.is_empty() || ip_address_substr.iter().any(|s| addr.contains(s.as_str())))
            })
        }
        Filter::TagsAll(tags) => tags.iter().all(|t| has_tag(item, t)),
        Filter::TagsAny(tags) => tags.iter().any(|t| has_tag(item, t)),
        Filter::NotTagsAll(tags) => !tags.iter().all(|t| has_tag(item, t)),
        Filter::NotTagsAny(tags) => !tags.iter().any(|t| has_tag(item, t)),
        Filter::ChangedSince(ts) => item.get("updated_at").and_then(Value::as_str).is_some_and(|u| u >= ts.as_str()),
    }
}

fn has_tag(item: &Map<String, Value>, tag: &str) -> bool {
    matches!(item.get("tags"), Some(Value::Array(tags)) if tags.iter().any(|t| t.as_str() == Some(tag)))
}

fn value_eq(actual: &Value, wanted: &Value) -> bool {
    match (actual, wanted) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Number(a), Value::String(b)) => a.to_string() == *b,
        (Value::Null, Value::String(b)) => b.is_empty(),
        // A list attribute (a port's `security_groups`) matches when any item does.
        (Value::Array(items), _) => items.iter().any(|i| value_eq(i, wanted)),
        _ => actual == wanted,
    }
}

/// Orders JSON values the way a database orders the column: nulls first.
fn compare_values(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    match (a.unwrap_or(&Value::Null), b.unwrap_or(&Value::Null)) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (x, y) => x.to_string().cmp(&y.to_string()),
    }
}

/// `urllib.parse.urlencode` of the pairs.
fn encode(params: &[(String, String)]) -> String {
    params.iter().map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v))).collect::<Vec<_>>().join("&")
}

fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{NETWORK, PORT};
    use serde_json::json;

    fn pairs(q: &[(&str, &str)]) -> Vec<(String, String)> {
        q.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test objects are maps"),
        }
    }

    #[test]
    fn unknown_filter_and_sort_keys_are_rejected() {
        let err = ListQuery::parse(&NETWORK, pairs(&[("bogus", "1")]), None).unwrap_err();
        assert_eq!(err.message, "['bogus'] is invalid attribute for filtering");
        let err =
            ListQuery::parse(&NETWORK, pairs(&[("b", "1"), ("a", "1"), ("b", "2"), ("name", "n")]), None).unwrap_err();
        assert_eq!(err.message, "['b', 'a'] is invalid attribute for filtering", "each unknown key once, in order");
        let err = ListQuery::parse(&NETWORK, pairs(&[("sort_key", "subnets"), ("sort_dir", "asc")]), None).unwrap_err();
        assert_eq!(err.message, "['subnets'] is invalid attribute for sort_keys");
        let err = ListQuery::parse(&NETWORK, pairs(&[("sort_key", "name")]), None).unwrap_err();
        assert_eq!(err.message, "The number of sort_keys and sort_dirs must be same");
        let err = ListQuery::parse(&NETWORK, pairs(&[("sort_key", "name"), ("sort_dir", "up")]), None).unwrap_err();
        assert_eq!(err.message, "['up'] is invalid value for sort_dirs, valid value is 'asc' and 'desc'");
    }

    #[test]
    fn repeated_keys_or_and_different_keys_and() {
        let q = ListQuery::parse(&NETWORK, pairs(&[("name", "a"), ("name", "b"), ("admin_state_up", "True")]), None)
            .unwrap();
        assert!(q.matches(&obj(json!({"name": "a", "admin_state_up": true}))));
        assert!(q.matches(&obj(json!({"name": "b", "admin_state_up": true}))));
        assert!(!q.matches(&obj(json!({"name": "b", "admin_state_up": false}))));
        assert!(!q.matches(&obj(json!({"name": "c", "admin_state_up": true}))));
    }

    #[test]
    fn fixed_ip_and_tag_filters() {
        let port = obj(json!({"fixed_ips": [{"subnet_id": "s1", "ip_address": "10.0.0.5"}], "tags": ["a", "b"]}));
        let q = ListQuery::parse(
            &PORT,
            pairs(&[("fixed_ips", "ip_address=10.0.0.5"), ("fixed_ips", "subnet_id=s1")]),
            None,
        )
        .unwrap();
        assert!(q.matches(&port));
        let q = ListQuery::parse(&PORT, pairs(&[("fixed_ips", "ip_address_substr=0.0.5")]), None).unwrap();
        assert!(q.matches(&port));
        let q = ListQuery::parse(&PORT, pairs(&[("fixed_ips", "ip_address=10.0.0.6")]), None).unwrap();
        assert!(!q.matches(&port));
        for (k, v, want) in [
            ("tags", "a,b", true),
            ("tags", "a,c", false),
            ("tags-any", "c,b", true),
            ("not-tags", "a,b", false),
            ("not-tags-any", "c", true),
        ] {
            let q = ListQuery::parse(&PORT, pairs(&[(k, v)]), None).unwrap();
            assert_eq!(q.matches(&port), want, "{k}={v}");
        }
    }

    #[test]
    fn pagination_walks_forward_and_back() {
        let items: Vec<_> =
            (0..5).map(|i| obj(json!({"id": format!("id{i}"), "name": format!("n{}", 4 - i)}))).collect();
        let q = ListQuery::parse(&NETWORK, pairs(&[("limit", "2"), ("sort_key", "name"), ("sort_dir", "asc")]), None)
            .unwrap();
        let page = q.paginate(items.clone(), None);
        let names: Vec<_> = page.iter().map(|i| i["name"].clone()).collect();
        assert_eq!(names, vec![json!("n0"), json!("n1")]);
        let links = q.links("http://h/v2.0/networks", &page).unwrap();
        assert_eq!(links[0]["href"], json!("http://h/v2.0/networks?limit=2&sort_key=name&sort_dir=asc&marker=id3"));
        assert_eq!(links[1]["rel"], json!("previous"));
        let marker = items.iter().find(|i| i["id"] == json!("id3")).cloned();
        let page2 = q.paginate(items.clone(), marker.as_ref());
        assert_eq!(page2.iter().map(|i| i["name"].clone()).collect::<Vec<_>>(), vec![json!("n2"), json!("n3")]);
        let rq = ListQuery::parse(
            &NETWORK,
            pairs(&[("limit", "2"), ("sort_key", "name"), ("sort_dir", "asc"), ("page_reverse", "True")]),
            None,
        )
        .unwrap();
        let back = rq.paginate(items.clone(), items.iter().find(|i| i["id"] == json!("id2")));
        assert_eq!(back.iter().map(|i| i["name"].clone()).collect::<Vec<_>>(), vec![json!("n0"), json!("n1")]);
    }

    #[test]
    fn limit_validation_and_fields() {
        let err = ListQuery::parse(&NETWORK, pairs(&[("limit", "-1")]), None).unwrap_err();
        assert_eq!(err.message, "Bad limit request: Limit must be an integer 0 or greater and not '-1'.");
        let q = ListQuery::parse(&NETWORK, pairs(&[("fields", "id"), ("fields", "name")]), None).unwrap();
        let out = q.select_fields(obj(json!({"id": "1", "name": "n", "mtu": 1450})));
        assert_eq!(Value::Object(out), json!({"id": "1", "name": "n"}));
    }
}
