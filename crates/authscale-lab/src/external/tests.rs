use super::*;

fn external(node_metrics: &[&str]) -> External {
    External {
        target: "http://127.0.0.1:1".into(),
        scale_command: "true".into(),
        ready_url: None,
        store_url: None,
        store_cpu_limit: None,
        node_metrics: node_metrics.iter().map(|u| u.to_string()).collect(),
        node_cpu_limit: None,
        balancer_metrics: None,
        allow_remote: false,
        ca_file: None,
        insecure: false,
        http2: false,
        scenarios: Default::default(),
    }
}

#[test]
fn readings_are_placed_at_their_mean_moment() {
    let t = Instant::now();
    let moments = [
        t + Duration::from_millis(300),
        t,
        t + Duration::from_millis(600),
    ];
    assert_eq!(mean_instant(&moments), t + Duration::from_millis(300));
    assert!(mean_instant(&[]) >= t);
}

#[test]
fn a_step_reads_the_instances_it_has() {
    let pattern = external(&["http://node-{i}.local:9000/metrics"]);
    assert_eq!(
        instance_urls(&pattern, 2),
        [
            "http://node-0.local:9000/metrics",
            "http://node-1.local:9000/metrics"
        ]
    );
    let list = external(&["http://a/metrics", "http://b/metrics", "http://c/metrics"]);
    assert_eq!(instance_urls(&list, 1), ["http://a/metrics"]);
    assert_eq!(instance_urls(&list, 3).len(), 3);
}

#[test]
fn cpu_and_requests_come_from_the_prometheus_text() {
    let page = parse_metrics(
        "# HELP process_cpu_seconds_total x\n# TYPE process_cpu_seconds_total counter\n\
         process_cpu_seconds_total 12.5 1796619156562\n\
         process_cpu_seconds_total_other 99\n\
         authscale_requests_total{route=\"/api/me\",status=\"200\"} 40\n\
         authscale_requests_total{route=\"/login\",status=\"200\"} 2\n",
    );
    assert_eq!(page.cpu_seconds, Some(12.5));
    assert_eq!(page.requests, Some(42));
    // Summed over instances; one without CPU makes the sum unknown.
    let mut all = Scrape::default();
    all.add(&page);
    all.add(&page);
    assert_eq!((all.cpu_seconds, all.requests), (Some(25.0), Some(84)));
    all.add(&parse_metrics("up 1\n"));
    assert_eq!(all.cpu_seconds, None);
}
