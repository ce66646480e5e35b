//! Both migration trees describe one schema: the same tables with the same
//! columns, whatever each database calls their types.

use crate::backends::{postgres_url, sqlite_store, unique_name};
use flotilla_store::{create_postgres_database, drop_postgres_database, Store};
use sqlx::Row;
use std::collections::BTreeMap;

type Schema = BTreeMap<String, Vec<String>>;

async fn sqlite_schema() -> Schema {
    let (store, dir) = sqlite_store().await;
    store.close().await;
    let url = format!("sqlite://{}", dir.join("flotilla.db").display());
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&url).await.expect("connect sqlite");
    let tables = sqlx::query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .expect("tables");
    let mut schema = Schema::new();
    for table in tables {
        let name: String = table.try_get("name").expect("name");
        let columns = sqlx::query(&format!("SELECT name FROM pragma_table_info('{name}')"))
            .fetch_all(&pool)
            .await
            .expect("columns");
        let mut columns: Vec<String> = columns
            .iter()
            .map(|c| c.try_get("name").expect("column"))
            .collect();
        columns.sort();
        schema.insert(name, columns);
    }
    pool.close().await;
    let _ = std::fs::remove_dir_all(dir);
    schema
}

async fn postgres_schema(admin: &str) -> Schema {
    let name = unique_name("flotilla_schema");
    let url = create_postgres_database(admin, &name)
        .await
        .expect("create database");
    let store = Store::open(&url, crate::backends::server_key())
        .await
        .expect("migrate postgres");
    store.close().await;
    let pool = sqlx::AnyPool::connect(&url)
        .await
        .expect("connect postgres");
    let rows = sqlx::query(
        "SELECT table_name::text AS t, column_name::text AS c FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .expect("columns");
    let mut schema = Schema::new();
    for row in rows {
        let table: String = row.try_get("t").expect("table");
        let column: String = row.try_get("c").expect("column");
        schema.entry(table).or_default().push(column);
    }
    for columns in schema.values_mut() {
        columns.sort();
    }
    pool.close().await;
    drop_postgres_database(admin, &name)
        .await
        .expect("drop database");
    schema
}

#[tokio::test]
async fn both_migration_trees_make_the_same_tables_and_columns() {
    let sqlite = sqlite_schema().await;
    assert!(
        sqlite.contains_key("hosts") && sqlite.contains_key("dirty_hosts"),
        "{sqlite:?}"
    );
    let Some(admin) = postgres_url() else {
        // Without PostgreSQL only the SQLite half can be read; CI always has both.
        return;
    };
    let postgres = postgres_schema(&admin).await;
    assert_eq!(sqlite, postgres);
}
