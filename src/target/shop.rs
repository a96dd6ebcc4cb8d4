//! Product catalogue and order placement, the write-heavy part of the API.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::Principal;
use super::routes::AppState;
use super::store::{BoundedMap, DEFAULT_CAPACITY};
use super::support::{
    ApiError, ApiResult, Params, limit, now_rfc3339, one_of, params, parse_json, round_to,
};

const CATEGORIES: &[&str] = &["networking", "storage", "compute"];
const MAX_ORDER_LINES: usize = 100;
const MAX_QUANTITY: i64 = 10_000;

#[derive(Serialize)]
struct Product {
    id: i64,
    sku: &'static str,
    name: &'static str,
    category: &'static str,
    unit_price: f64,
    currency: &'static str,
    in_stock: bool,
}

const fn product(
    id: i64,
    sku: &'static str,
    name: &'static str,
    category: &'static str,
    unit_price: f64,
    in_stock: bool,
) -> Product {
    Product {
        id,
        sku,
        name,
        category,
        unit_price,
        currency: "USD",
        in_stock,
    }
}

/// Only the in-stock products (1012, 1044, 1098, 1107) can be ordered; the
/// others exist so listings and the 422 path look like a real catalogue.
static CATALOG: [Product; 7] = [
    product(
        1012,
        "NET-ER8",
        "Edge Router ER-8",
        "networking",
        1299.0,
        true,
    ),
    product(
        1044,
        "STO-NV4",
        "NVMe Storage Node 4TB",
        "storage",
        2450.0,
        true,
    ),
    product(
        1098,
        "CMP-B32",
        "Compute Blade C2 (32 vCPU)",
        "compute",
        3899.0,
        true,
    ),
    product(
        1107,
        "NET-SW24",
        "10GbE Switch, 24 ports",
        "networking",
        899.5,
        true,
    ),
    product(
        1003,
        "STO-SAN1",
        "Legacy SAN Controller",
        "storage",
        5200.0,
        false,
    ),
    product(
        1121,
        "CMP-GPU1",
        "GPU Accelerator Card",
        "compute",
        7450.0,
        false,
    ),
    product(
        1135,
        "NET-FW2",
        "Managed Firewall Appliance",
        "networking",
        2100.0,
        false,
    ),
];

fn orderable(product_id: i64) -> bool {
    CATALOG.iter().any(|p| p.id == product_id && p.in_stock)
}

/// `GET /api/v1/products?category=&limit=`
pub(super) async fn list_products(
    _principal: Principal,
    query: Result<Query<Params>, QueryRejection>,
) -> ApiResult {
    let params = params(query)?;
    let category = one_of(&params, "category", CATEGORIES)?;
    let limit = limit(&params, 20, 100)?;
    let items: Vec<&Product> = CATALOG
        .iter()
        .filter(|p| category.is_none_or(|c| p.category == c))
        .take(limit)
        .collect();
    let body = json!({ "items": items, "count": items.len(), "category": category });
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
struct OrderRequest {
    customer_id: String,
    items: Vec<OrderItem>,
    shipping_method: String,
    payment_method: String,
    currency: String,
}

#[derive(Clone, Deserialize, Serialize)]
struct OrderItem {
    product_id: i64,
    quantity: i64,
    unit_price: f64,
}

#[derive(Clone, Serialize)]
struct Order {
    order_id: String,
    status: &'static str,
    customer_id: String,
    items: Vec<OrderItem>,
    shipping_method: String,
    payment_method: String,
    currency: String,
    total: f64,
    created_at: String,
    created_by: String,
}

/// Placed orders, capped like the token table.
#[derive(Clone)]
pub(super) struct Orders(Arc<Mutex<BoundedMap<String, Order>>>);

impl Default for Orders {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(BoundedMap::new(DEFAULT_CAPACITY))))
    }
}

fn required_text(name: &str, value: &str, max_len: usize) -> Result<(), ApiError> {
    let value = value.trim();
    if value.is_empty() || value.len() > max_len {
        return Err(ApiError::unprocessable(format!(
            "{name} must be a non-empty string of at most {max_len} characters"
        )));
    }
    Ok(())
}

fn validate_item(index: usize, item: &OrderItem) -> Result<(), ApiError> {
    if !orderable(item.product_id) {
        return Err(ApiError::unprocessable(format!(
            "items[{index}].product_id {} is unknown or not in stock",
            item.product_id
        )));
    }
    if !(1..=MAX_QUANTITY).contains(&item.quantity) {
        return Err(ApiError::unprocessable(format!(
            "items[{index}].quantity must be between 1 and {MAX_QUANTITY}"
        )));
    }
    if !item.unit_price.is_finite() || item.unit_price < 0.0 || item.unit_price > 1e9 {
        return Err(ApiError::unprocessable(format!(
            "items[{index}].unit_price must be a non-negative amount"
        )));
    }
    Ok(())
}

fn validate_order(request: &OrderRequest) -> Result<(), ApiError> {
    required_text("customer_id", &request.customer_id, 128)?;
    required_text("shipping_method", &request.shipping_method, 64)?;
    required_text("payment_method", &request.payment_method, 64)?;
    let currency = request.currency.trim();
    if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(ApiError::unprocessable(
            "currency must be a three-letter ISO 4217 code",
        ));
    }
    if request.items.is_empty() || request.items.len() > MAX_ORDER_LINES {
        return Err(ApiError::unprocessable(format!(
            "items must hold between 1 and {MAX_ORDER_LINES} lines"
        )));
    }
    request
        .items
        .iter()
        .enumerate()
        .try_for_each(|(index, item)| validate_item(index, item))
}

/// `POST /api/v1/orders`
pub(super) async fn create_order(
    principal: Principal,
    State(state): State<AppState>,
    body: Bytes,
) -> ApiResult {
    let request: OrderRequest = parse_json(&body)?;
    validate_order(&request)?;
    let total = request
        .items
        .iter()
        .map(|item| item.unit_price * item.quantity as f64)
        .sum::<f64>();
    let order = Order {
        order_id: format!("ord-{}", uuid::Uuid::new_v4()),
        status: "created",
        customer_id: request.customer_id.trim().to_owned(),
        items: request.items,
        shipping_method: request.shipping_method.trim().to_owned(),
        payment_method: request.payment_method.trim().to_owned(),
        currency: request.currency.trim().to_ascii_uppercase(),
        total: round_to(total, 2),
        created_at: now_rfc3339(),
        created_by: principal.subject,
    };
    let location = format!("/api/v1/orders/{}", order.order_id);
    let body = Json(&order).into_response();
    state
        .orders
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(order.order_id.clone(), order);
    Ok((StatusCode::CREATED, [(header::LOCATION, location)], body).into_response())
}

/// `GET /api/v1/orders/{order_id}`
pub(super) async fn get_order(
    _principal: Principal,
    State(state): State<AppState>,
    order_id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    let Path(order_id) =
        order_id.map_err(|e| ApiError::bad_request("invalid_path", e.body_text()))?;
    let orders = state
        .orders
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    match orders.get(order_id.as_str()) {
        Some(order) => Ok(Json(order).into_response()),
        None => Err(ApiError::not_found(format!("order {order_id} not found"))),
    }
}
