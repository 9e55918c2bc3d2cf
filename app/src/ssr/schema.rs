//! The diesel schema, one for every backend (types chosen to mean the same in SQLite and PostgreSQL:
//! ids and times are 64-bit integers, times are seconds since the epoch).

diesel::table! {
    users (id) {
        id -> BigInt,
        name -> Text,
        name_key -> Text,
        password_hash -> Text,
        is_admin -> Bool,
        created_at -> BigInt,
        email -> Nullable<Text>,
    }
}

diesel::table! {
    sessions (id_hash) {
        id_hash -> Text,
        user_id -> BigInt,
        created_at -> BigInt,
        expires_at -> BigInt,
        last_seen_at -> Nullable<BigInt>,
        user_agent -> Nullable<Text>,
        ip -> Nullable<Text>,
    }
}

diesel::table! {
    personal_access_tokens (id) {
        id -> BigInt,
        user_id -> BigInt,
        name -> Text,
        token_hash -> Text,
        scopes -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
        revoked_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    repositories (id) {
        id -> BigInt,
        owner_id -> BigInt,
        name -> Text,
        name_key -> Text,
        description -> Text,
        is_private -> Bool,
        created_at -> BigInt,
    }
}

diesel::table! {
    github_connections (user_id) {
        user_id -> BigInt,
        github_login -> Text,
        github_id -> BigInt,
        access_token -> Text,
        refresh_token -> Nullable<Text>,
        scopes -> Text,
        expires_at -> Nullable<BigInt>,
        refresh_expires_at -> Nullable<BigInt>,
        connected_at -> BigInt,
        refreshed_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    oauth_states (state_hash) {
        state_hash -> Text,
        user_id -> BigInt,
        provider -> Text,
        pkce_verifier -> Text,
        created_at -> BigInt,
        expires_at -> BigInt,
    }
}

diesel::table! {
    mirrors (id) {
        id -> BigInt,
        repository_id -> BigInt,
        user_id -> BigInt,
        direction -> Text,
        remote_owner -> Text,
        remote_name -> Text,
        remote_key -> Text,
        interval_minutes -> Nullable<BigInt>,
        paused -> Bool,
        status -> Text,
        last_error -> Nullable<Text>,
        last_sync_at -> Nullable<BigInt>,
        last_success_at -> Nullable<BigInt>,
        next_sync_at -> Nullable<BigInt>,
        sync_requested_at -> Nullable<BigInt>,
        requested_trigger -> Nullable<Text>,
        request_seq -> BigInt,
        leased_by -> Nullable<Text>,
        leased_until -> Nullable<BigInt>,
        failure_count -> BigInt,
        retry_at -> Nullable<BigInt>,
        created_at -> BigInt,
        pending_since_ms -> Nullable<BigInt>,
        debounce_until_ms -> Nullable<BigInt>,
        last_finished_ms -> Nullable<BigInt>,
        overwrite_diverged -> Bool,
        pushed_digest -> Nullable<Text>,
        in_sync_at -> Nullable<BigInt>,
        lease_token -> BigInt,
        dead_since -> Nullable<BigInt>,
        paused_reason -> Nullable<Text>,
    }
}

diesel::table! {
    mirror_syncs (id) {
        id -> BigInt,
        mirror_id -> Nullable<BigInt>,
        repository_id -> BigInt,
        direction -> Text,
        remote -> Text,
        trigger -> Text,
        started_at -> BigInt,
        finished_at -> Nullable<BigInt>,
        outcome -> Text,
        error -> Nullable<Text>,
        refs -> Text,
        objects -> BigInt,
        bytes -> BigInt,
        scheduled_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    notifications (id) {
        id -> BigInt,
        user_id -> BigInt,
        repository_id -> Nullable<BigInt>,
        mirror_id -> Nullable<BigInt>,
        kind -> Text,
        title -> Text,
        body -> Text,
        link -> Text,
        created_at -> BigInt,
        read_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    webhooks (id) {
        id -> BigInt,
        repository_id -> BigInt,
        url -> Text,
        secret -> Text,
        events -> Text,
        created_at -> BigInt,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> BigInt,
        webhook_id -> BigInt,
        event -> Text,
        payload -> Text,
        status -> Text,
        attempts -> BigInt,
        next_attempt_at -> Nullable<BigInt>,
        response_code -> Nullable<BigInt>,
        error -> Nullable<Text>,
        created_at -> BigInt,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    ssh_keys (id) {
        id -> BigInt,
        user_id -> BigInt,
        title -> Text,
        algorithm -> Text,
        public_key -> Text,
        fingerprint -> Text,
        created_at -> BigInt,
        last_used_at -> Nullable<BigInt>,
    }
}

diesel::table! {
    imports (id) {
        id -> BigInt,
        repository_id -> BigInt,
        user_id -> BigInt,
        mirror_id -> Nullable<BigInt>,
        remote_owner -> Text,
        remote_name -> Text,
        remote_key -> Text,
        mirror_interval_minutes -> Nullable<BigInt>,
        state -> Text,
        error -> Nullable<Text>,
        created_at -> BigInt,
        finished_at -> Nullable<BigInt>,
    }
}

diesel::joinable!(imports -> repositories (repository_id));
diesel::joinable!(ssh_keys -> users (user_id));
diesel::joinable!(webhook_deliveries -> webhooks (webhook_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(mirrors -> repositories (repository_id));
diesel::joinable!(mirror_syncs -> repositories (repository_id));
diesel::joinable!(github_connections -> users (user_id));
diesel::joinable!(oauth_states -> users (user_id));
diesel::joinable!(personal_access_tokens -> users (user_id));
diesel::joinable!(repositories -> users (owner_id));
diesel::allow_tables_to_appear_in_same_query!(
    imports,
    ssh_keys,
    users,
    sessions,
    personal_access_tokens,
    repositories,
    github_connections,
    oauth_states,
    mirrors,
    mirror_syncs,
    notifications,
    webhooks,
    webhook_deliveries
);
