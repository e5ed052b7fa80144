use super::*;

#[test]
fn store_clients_parse_by_their_names() {
    for client in StoreClient::ALL {
        assert_eq!(client.as_str().parse(), Ok(client));
    }
    let error = "pool".parse::<StoreClient>().expect_err("unknown");
    assert!(error.contains("manager or deadpool"), "{error}");
}
