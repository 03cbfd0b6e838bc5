//! The control API: the one set of typed operations every front end uses.
//!
//! A front end (porla's JSON-RPC in [`super::rpc`], Transmission 0.80's IPC
//! in [`super::ipc`]; next the qBittorrent WebUI API v2 and Transmission's
//! RPC) is a translator: it reads its wire format, calls [`Api`], and
//! writes the answer — or the [`ApiError`] mapped onto its own error — in
//! its wire format. What a torrent *is*, how one is added, what a command
//! means and when it is done live here once, never in a front end.
//!
//! How it works:
//!
//! - **Reads** come from the coordinator's view, rebuilt once a second
//!   ([`Api::view`]), and from the tracker manager's state, published once
//!   a second too ([`Api::trackers`]). Take one view per request and answer
//!   everything from it, so an answer is consistent within itself. Reads
//!   never wait and never reach a shard.
//! - **Changes** go to the coordinator as [`ControlCommand`]s over its
//!   channel; each operation returns once the coordinator has answered,
//!   which is once the session on disk agrees (a torrent added is in the
//!   session's store, a limit set is in its settings). The coordinator
//!   publishes the view before it answers, so a read after a change sees it.
//! - **Errors** are one [`ApiError`]: the daemon is stopping, the
//!   coordinator refused ([`CommandError`]: unknown torrent, duplicate, the
//!   store failed), the metainfo is invalid, there is no save path, or a
//!   listener could not be bound.
//!
//! Adding a torrent is three steps so that a front end can keep its own
//! order of parameter checks: [`Api::parse_torrent`] (the metainfo),
//! [`Api::save_path`] (the folder: the one asked for, else the session's
//! default) and [`Api::add_torrent`] (which resolves the save path itself
//! when the front end has not).
//!
//! An `Api` is shared by the front ends of the control thread (`Arc<Api>`);
//! every operation takes `&self`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::Sender;
use ringseed_proto::metainfo::{InfoHash, Metainfo, MetainfoError};
use serde::Serialize;

use crate::config::Config;
use crate::coordinator::view::{latest, PeerView, SharedView, View};
use crate::listen::ListenError;
use crate::messages::{
    AddTorrent, CategoryChange, CommandError, ControlCommand, GlobalShareLimits, PeerSource, Reply,
    SessionChange, ShareLimits, TagChange, TorrentProps,
};
use crate::tracker::{SharedTrackers, TrackersView};

/// Why an operation failed. Each front end maps these onto its wire error
/// (porla's codes, the IPC's `failed`…).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The coordinator is gone: the daemon is shutting down.
    #[error("the daemon is stopping")]
    Stopping,
    /// The coordinator refused the command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The torrent's metainfo could not be read.
    #[error("invalid torrent: {0}")]
    InvalidTorrent(MetainfoError),
    /// No save path was asked for and the session has no default one
    /// (`storage.data_dir`, or the IPC's `directory`).
    #[error("no save path: none given and the session has no default")]
    NoSavePath,
    /// A torrent's files could not be moved.
    #[error("cannot move the data: {0}")]
    Move(String),
    /// The new listen port could not be bound.
    #[error(transparent)]
    Listen(#[from] ListenError),
}

/// A torrent read from its metainfo, ready to add.
#[derive(Debug)]
pub(crate) struct NewTorrent {
    pub(crate) meta: Metainfo,
    /// The metainfo bytes as given (the session keeps them).
    pub(crate) raw: Vec<u8>,
}

/// How to add a torrent.
#[derive(Debug, Default)]
pub(crate) struct AddOptions {
    /// Folder holding (or to hold) the content; `None` or empty: the
    /// session's default save path.
    pub(crate) save_path: Option<PathBuf>,
    /// Added paused; `None`: as the session's `autostart` says (the IPC's
    /// setting: paused when it is off).
    pub(crate) paused: Option<bool>,
    /// Per-torrent limits (`None` fields: the defaults).
    pub(crate) props: TorrentProps,
    /// Category ("" = none). One the session lacks is created, an invalid
    /// name dropped (qBittorrent's `addTorrent`). With no `save_path`, a
    /// category with a save path puts the torrent there.
    pub(crate) category: String,
    /// Tags; those the session lacks are created, invalid ones dropped.
    pub(crate) tags: Vec<String>,
    /// The torrent's own share limits (default: all -2, the global ones).
    pub(crate) share_limits: ShareLimits,
    /// Trust the data without hashing (qBittorrent's `skip_checking`): when
    /// every file exists with its length every piece is taken as verified,
    /// otherwise the torrent is hashed as usual. A later read failure has
    /// the whole torrent rechecked.
    pub(crate) skip_checking: bool,
}

/// A torrent the session now holds.
#[derive(Clone, Debug)]
pub(crate) struct AddedTorrent {
    /// Its v1 info hash (the session's key).
    pub(crate) info_hash: InfoHash,
    pub(crate) meta: Arc<Metainfo>,
}

/// Session-wide figures (`ringseed.session.get`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct SessionStats {
    /// Global upload limit, bytes/s; -1 = unlimited.
    pub upload_limit: i64,
    /// Payload upload rate of all peers over the last second, bytes/s.
    pub(crate) upload_rate: u64,
    /// The TCP port the shards listen on.
    pub(crate) listen_port: u16,
    pub(crate) torrents_total: usize,
    /// Connected peers (handshake done).
    pub(crate) peers_total: usize,
    /// Bytes hashed by piece verification since start.
    pub(crate) hashed_bytes: u64,
}

/// A closed connection (`ringseed.disconnects`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Disconnect {
    /// Unix time, seconds.
    pub(crate) time: u64,
    /// The peer's address, when it was known.
    pub(crate) peer: Option<String>,
    /// The peer's client name, when known.
    pub(crate) client: Option<String>,
    /// The torrent's v1 info hash (hex), once the handshake named it.
    pub(crate) info_hash: Option<String>,
    /// The reason's name (`DisconnectReason::name`).
    pub(crate) reason: &'static str,
    /// The reason's code (an errno for OS errors).
    pub(crate) code: i32,
    /// The reason in words.
    pub(crate) message: String,
    /// Where we learnt of the peer (`incoming`, `tracker`, `manual`…).
    pub(crate) source: Option<&'static str>,
}

/// The control API (see the module documentation).
pub(crate) struct Api {
    /// Transmission's torrent ids (the IPC's and the RPC's).
    ids: parking_lot::Mutex<super::ids::Ids>,
    config: Arc<Config>,
    view: SharedView,
    commands: Sender<ControlCommand>,
    state_dir: PathBuf,
    trackers: SharedTrackers,
}

impl Api {
    /// An API over the coordinator's view and command channel, the
    /// session's state directory and the tracker manager's state.
    pub(crate) fn new(
        config: Arc<Config>,
        view: SharedView,
        commands: Sender<ControlCommand>,
        state_dir: PathBuf,
        trackers: SharedTrackers,
    ) -> Self {
        Api {
            ids: Default::default(),
            config,
            view,
            commands,
            state_dir,
            trackers,
        }
    }

    /// The daemon's configuration.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// The session's state directory (where the metainfo of every torrent
    /// is kept as added).
    pub(crate) fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    // ---- Reads ----

    /// The latest view of the session (rebuilt once a second, and before
    /// the coordinator answers a command).
    pub(crate) fn view(&self) -> Arc<View> {
        latest(&self.view)
    }

    /// Transmission's torrent ids (shared by the IPC and the RPC). Sync
    /// them with a view before reading; never hold the guard while
    /// taking it again.
    pub(crate) fn ids(&self) -> parking_lot::MutexGuard<'_, super::ids::Ids> {
        self.ids.lock()
    }

    /// The trackers' latest state (published once a second).
    pub(crate) fn trackers(&self) -> Arc<TrackersView> {
        self.trackers.load_full()
    }

    /// Session-wide figures from `view`.
    pub(crate) fn session_stats(view: &View) -> SessionStats {
        SessionStats {
            upload_limit: view.session.upload_limit,
            upload_rate: view.session.upload_rate,
            listen_port: view.session.listen_port,
            torrents_total: view.torrents.len(),
            peers_total: view.all_peers().count(),
            hashed_bytes: view.session.hashed_bytes,
        }
    }

    /// The connected peers of one torrent, in the view's order (none when
    /// it has none or is unknown).
    pub(crate) fn torrent_peers(view: &View, info_hash: InfoHash) -> &[Arc<PeerView>] {
        view.peers
            .get(&info_hash)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    /// Every connected peer, or those of one torrent, by peer key.
    pub(crate) fn peers(view: &View, only: Option<InfoHash>) -> Vec<&Arc<PeerView>> {
        let mut peers: Vec<&Arc<PeerView>> = view
            .all_peers()
            .filter(|p| only.is_none_or(|ih| p.info_hash == ih))
            .collect();
        peers.sort_by_key(|p| p.key);
        peers
    }

    /// The last closed connections at or after Unix time `since`, oldest first.
    pub(crate) fn disconnects(view: &View, since: i64) -> Vec<Disconnect> {
        view.recent_disconnects
            .iter()
            .filter(|d| d.unix as i64 >= since)
            .map(|d| Disconnect {
                time: d.unix,
                peer: d.addr.map(|a| a.to_string()),
                client: d.client.as_deref().map(str::to_string),
                info_hash: d.info_hash.map(|h| h.to_hex()),
                reason: d.reason.name(),
                code: d.reason.code(),
                message: d.reason.message(),
                source: d.source.map(PeerSource::name),
            })
            .collect()
    }

    // ---- Adding a torrent ----

    /// Reads a torrent's metainfo bytes.
    ///
    /// Errors: [`ApiError::InvalidTorrent`] with the parser's reason.
    pub(crate) fn parse_torrent(raw: Vec<u8>) -> Result<NewTorrent, ApiError> {
        let meta = Metainfo::from_bytes(&raw).map_err(ApiError::InvalidTorrent)?;
        Ok(NewTorrent { meta, raw })
    }

    /// The folder a torrent is saved in: `asked` unless empty, else the
    /// session's default save path (`storage.data_dir` unless the IPC's
    /// `directory` changed it), made absolute.
    ///
    /// Errors: [`ApiError::NoSavePath`] when neither is set.
    pub(crate) fn save_path(&self, asked: Option<PathBuf>) -> Result<PathBuf, ApiError> {
        let path = match asked.filter(|p| !p.as_os_str().is_empty()) {
            Some(p) => p,
            None => Some(self.view().session.default_save_path.clone())
                .filter(|d| !d.as_os_str().is_empty())
                .ok_or(ApiError::NoSavePath)?,
        };
        Ok(std::path::absolute(&path).unwrap_or(path))
    }

    /// The folder a torrent added in `category` without a save path goes
    /// to: the category's save path (below the default one when relative),
    /// else the session's default ([`Api::save_path`]). qBittorrent's
    /// automatic torrent management, simplified: a category without a save
    /// path means the default save path itself (qBittorrent adds a
    /// subfolder named after the category).
    ///
    /// Errors: [`ApiError::NoSavePath`].
    pub(crate) fn category_save_path(&self, category: &str) -> Result<PathBuf, ApiError> {
        let view = self.view();
        let own = view
            .session
            .categories
            .get(category)
            .filter(|p| !p.as_os_str().is_empty());
        match own {
            Some(p) if p.is_absolute() => self.save_path(Some(p.clone())),
            Some(p) => Ok(self.save_path(None)?.join(p)),
            None => self.save_path(None),
        }
    }

    /// Adds `torrent` to the session; returns once the session on disk
    /// holds it (it is then hashed, unless resume data matches).
    ///
    /// Errors: [`ApiError::NoSavePath`]; the coordinator's
    /// [`CommandError::Duplicate`] or [`CommandError::Store`];
    /// [`ApiError::Stopping`].
    pub(crate) async fn add_torrent(
        &self,
        torrent: NewTorrent,
        options: AddOptions,
    ) -> Result<AddedTorrent, ApiError> {
        let asked = options.save_path.filter(|p| !p.as_os_str().is_empty());
        let save_path = match asked {
            Some(p) => self.save_path(Some(p))?,
            None => self.category_save_path(&options.category)?,
        };
        let paused = match options.paused {
            Some(p) => p,
            None => !self.view().session.autostart,
        };
        let meta = Arc::new(torrent.meta);
        let add = AddTorrent {
            meta: meta.clone(),
            raw: Arc::from(torrent.raw),
            save_path,
            paused,
            props: options.props,
            category: options.category,
            tags: options.tags,
            share_limits: options.share_limits,
            skip_checking: options.skip_checking,
        };
        let info_hash = self
            .command(|r| ControlCommand::Add(Box::new(add), r))
            .await?;
        Ok(AddedTorrent { info_hash, meta })
    }

    // ---- Changes ----

    /// Removes torrents (unknown ones are skipped), closing their peers;
    /// `remove_data` deletes the files their metainfo names.
    pub(crate) async fn remove(
        &self,
        info_hashes: Vec<InfoHash>,
        remove_data: bool,
    ) -> Result<(), ApiError> {
        self.command(|reply| ControlCommand::Remove {
            info_hashes,
            remove_data,
            reply,
        })
        .await
    }

    /// Stops seeding a torrent (its peers are closed).
    pub(crate) async fn pause(&self, info_hash: InfoHash) -> Result<(), ApiError> {
        self.command(|r| ControlCommand::Pause(info_hash, r)).await
    }

    /// Seeds a paused torrent again.
    pub(crate) async fn resume(&self, info_hash: InfoHash) -> Result<(), ApiError> {
        self.command(|r| ControlCommand::Resume(info_hash, r)).await
    }

    /// Hashes every piece of a torrent again (its peers are closed while it checks).
    pub(crate) async fn recheck(&self, info_hash: InfoHash) -> Result<(), ApiError> {
        self.command(|r| ControlCommand::Recheck(info_hash, r))
            .await
    }

    /// Sets a torrent's limits (`None` fields stay as they are).
    pub(crate) async fn set_props(
        &self,
        info_hash: InfoHash,
        props: TorrentProps,
    ) -> Result<(), ApiError> {
        self.command(|r| ControlCommand::SetProps(info_hash, props, r))
            .await
    }

    /// Dials these peers for a torrent.
    pub(crate) async fn add_peers(
        &self,
        info_hash: InfoHash,
        peers: Vec<SocketAddr>,
    ) -> Result<(), ApiError> {
        self.command(|r| ControlCommand::AddPeers(info_hash, peers, r))
            .await
    }

    /// Sets the global upload limit, bytes/s (0 or -1 = unlimited).
    pub(crate) async fn set_upload_limit(&self, bytes_per_sec: i64) -> Result<(), ApiError> {
        self.command(|r| ControlCommand::SetUploadLimit(bytes_per_sec, r))
            .await
    }

    /// Changes a session-wide setting (download limit, default save path,
    /// autostart); kept in the session's settings.
    pub(crate) async fn set_session(&self, change: SessionChange) -> Result<(), ApiError> {
        self.command(|r| ControlCommand::SetSession(change, r))
            .await
    }

    /// Sets the category of torrents ("" = none; unknown torrents are
    /// skipped). Data is not moved: a seeder serves its files where they
    /// are, so only new adds use a category's save path.
    ///
    /// Errors: [`CommandError::UnknownCategory`].
    #[allow(dead_code)] // The qBittorrent WebUI front end's (control/webui).
    pub(crate) async fn set_category(
        &self,
        info_hashes: Vec<InfoHash>,
        category: String,
    ) -> Result<(), ApiError> {
        self.command(|r| ControlCommand::SetCategory(info_hashes, category, r))
            .await
    }

    /// Creates, edits or removes categories (qBittorrent's
    /// `createCategory`, `editCategory`, `removeCategories`).
    ///
    /// Errors: [`CommandError::InvalidName`], [`CommandError::CategoryExists`]
    /// (create), [`CommandError::UnknownCategory`] (edit).
    #[allow(dead_code)] // The qBittorrent WebUI front end's (control/webui).
    pub(crate) async fn edit_categories(&self, change: CategoryChange) -> Result<(), ApiError> {
        self.command(|r| ControlCommand::Categories(change, r))
            .await
    }

    /// Creates or deletes tags (deleting removes them from every torrent).
    ///
    /// Errors: [`CommandError::InvalidName`] (empty or with a comma, once trimmed).
    #[allow(dead_code)] // The qBittorrent WebUI front end's (control/webui).
    pub(crate) async fn edit_tags(&self, change: TagChange) -> Result<(), ApiError> {
        self.command(|r| ControlCommand::Tags(change, r)).await
    }

    /// Adds tags to torrents (creating unknown ones in the session, as
    /// qBittorrent does) or removes them (`add` false; the session keeps
    /// them). Unknown torrents are skipped.
    ///
    /// Errors: [`CommandError::InvalidName`].
    #[allow(dead_code)] // The qBittorrent WebUI front end's (control/webui).
    pub(crate) async fn torrent_tags(
        &self,
        info_hashes: Vec<InfoHash>,
        tags: Vec<String>,
        add: bool,
    ) -> Result<(), ApiError> {
        self.command(|reply| ControlCommand::TorrentTags {
            info_hashes,
            tags,
            add,
            reply,
        })
        .await
    }

    /// Sets torrents' own share limits (times in seconds; -2 = the global
    /// limit, -1 = none; [`ShareLimits::from_qbt_minutes`] converts
    /// qBittorrent's minutes). Unknown torrents are skipped.
    #[allow(dead_code)] // The qBittorrent WebUI front end's (control/webui).
    pub(crate) async fn set_share_limits(
        &self,
        info_hashes: Vec<InfoHash>,
        limits: ShareLimits,
    ) -> Result<(), ApiError> {
        self.command(|r| ControlCommand::SetShareLimits(info_hashes, limits, r))
            .await
    }

    /// Sets the session's share limits and action (kept in the session's
    /// settings, over the configuration's `[seeding]`).
    #[allow(dead_code)] // The qBittorrent WebUI front end's (control/webui).
    pub(crate) async fn set_global_share_limits(
        &self,
        limits: GlobalShareLimits,
    ) -> Result<(), ApiError> {
        self.command(|r| ControlCommand::SetGlobalShareLimits(limits, r))
            .await
    }

    /// Listens on `port` from now on: every shard gets a listener on the
    /// new port, bound here like at start (SO_REUSEPORT on the configured
    /// address); connected peers stay. The port already in use is a no-op.
    ///
    /// Errors: [`ApiError::Listen`] when the port cannot be bound.
    pub(crate) async fn set_listen_port(&self, port: u16) -> Result<(), ApiError> {
        if self.view().session.listen_port == port {
            return Ok(());
        }
        let addr = SocketAddr::new(self.config.network.listen.ip(), port);
        let (listeners, _) = crate::listen::bind_listeners(addr, self.config.shard_count())?;
        self.command(|reply| ControlCommand::Listen {
            port,
            listeners,
            reply,
        })
        .await
    }

    /// Seeds a torrent from `to` (absolute) from now on: paused while,
    /// with `move_data`, its files are renamed there (one filesystem only;
    /// a file already at the new place is kept), then checked there, then
    /// resumed unless it was paused. qBittorrent's `setLocation` moves;
    /// Transmission's `torrent-set-location` with `move` false only points
    /// the torrent at data already there.
    ///
    /// Errors: [`ApiError::Move`] when a file cannot be moved (another
    /// filesystem: EXDEV), the coordinator's refusals.
    pub(crate) async fn set_location(
        &self,
        info_hash: InfoHash,
        to: PathBuf,
        move_data: bool,
    ) -> Result<(), ApiError> {
        let view = self.view();
        let t = view
            .torrents
            .get(&info_hash)
            .ok_or(ApiError::Command(CommandError::NotFound))?
            .clone();
        let to = std::path::absolute(&to).unwrap_or(to);
        if to == t.save_path {
            return Ok(());
        }
        let was_paused = t.paused;
        if !was_paused {
            self.pause(info_hash).await?;
        }
        let moved = if move_data {
            crate::storage::remove::move_data(&t.meta, &t.save_path, &to)
        } else {
            Ok(Default::default())
        };
        if let Err(e) = moved {
            if !was_paused {
                self.resume(info_hash).await?;
            }
            return Err(ApiError::Move(e.to_string()));
        }
        self.command(|r| ControlCommand::SetSavePath(info_hash, to, r))
            .await?;
        if !was_paused {
            self.resume(info_hash).await?;
        }
        Ok(())
    }

    /// Refuses these addresses until the daemon stops and closes their
    /// connections.
    pub(crate) async fn ban_peers(&self, ips: Vec<std::net::IpAddr>) -> Result<(), ApiError> {
        self.command(|r| ControlCommand::BanPeers(ips, r)).await
    }

    /// Replaces the blocklist's ranges (inclusive) and closes connections
    /// inside them; returns the ranges held after merging overlaps.
    pub(crate) async fn set_blocklist(
        &self,
        ranges: Vec<(std::net::IpAddr, std::net::IpAddr)>,
    ) -> Result<usize, ApiError> {
        self.ask(|r| ControlCommand::SetBlocklist(ranges, r)).await
    }

    // ---- The coordinator's channel ----

    /// Sends the command `make` builds and waits for its reply.
    ///
    /// Errors: [`ApiError::Stopping`] when the coordinator is gone.
    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> ControlCommand) -> Result<T, ApiError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.commands
            .send(make(tx))
            .map_err(|_| ApiError::Stopping)?;
        rx.await.map_err(|_| ApiError::Stopping)
    }

    /// [`Api::ask`] for a command that the coordinator may refuse.
    async fn command<T>(
        &self,
        make: impl FnOnce(Reply<Result<T, CommandError>>) -> ControlCommand,
    ) -> Result<T, ApiError> {
        Ok(self.ask(make).await??)
    }
}
