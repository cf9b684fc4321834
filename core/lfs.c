/*
 * core.fs: the file system calls the Lua library needs beyond io/os.
 *
 *   exists(path), is_dir(path), access(path[, "rwx"])  -> boolean
 *   stat(path) -> {type, size, mode, uid, gid, mtime, ino, dev, nlink} (lstat)
 *   mkdir(path[, mode]), remove(path), remove_tree(path), close(fd) -> true
 *   mkdtemp(prefix), realpath(path), readlink(path), which(name[, path]) -> path
 *   list(dir) -> sorted names
 *   fsync(path), symlink(target, path) -> true
 *   statfs(path) -> {type, magic, memory, bsize, blocks, bavail}
 * Failures are nil, "<what> <path>: <strerror>", errno.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <lauxlib.h>

#include "fsutil.h"
#include "lbind.h"
#include "vmlua.h"

static int fs_exists(lua_State *L)
{
	struct stat st;
	lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0);
	return 1;
}

static int fs_is_dir(lua_State *L)
{
	struct stat st;
	lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0 && S_ISDIR(st.st_mode));
	return 1;
}

static int fs_access(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	const char *how = luaL_optstring(L, 2, "");
	int mode = 0;

	for (const char *c = how; *c; c++) {
		if (*c == 'r')
			mode |= R_OK;
		else if (*c == 'w')
			mode |= W_OK;
		else if (*c == 'x')
			mode |= X_OK;
		else
			return luaL_argerror(L, 2, "mode must be made of r, w and x");
	}
	lua_pushboolean(L, faccessat(AT_FDCWD, path, mode ? mode : F_OK, AT_EACCESS) == 0);
	return 1;
}

static const char *type_name(mode_t m)
{
	if (S_ISREG(m))
		return "file";
	if (S_ISDIR(m))
		return "dir";
	if (S_ISLNK(m))
		return "link";
	if (S_ISSOCK(m))
		return "socket";
	if (S_ISFIFO(m))
		return "fifo";
	if (S_ISCHR(m))
		return "char";
	if (S_ISBLK(m))
		return "block";
	return "unknown";
}

static void set_int(lua_State *L, const char *k, lua_Integer v)
{
	lua_pushinteger(L, v);
	lua_setfield(L, -2, k);
}

static int fs_stat(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct stat st;

	if (lstat(path, &st) < 0)
		return vl_fail_errno(L, errno, "stat %s", path);
	lua_createtable(L, 0, 9);
	lua_pushstring(L, type_name(st.st_mode));
	lua_setfield(L, -2, "type");
	set_int(L, "size", (lua_Integer)st.st_size);
	set_int(L, "mode", (lua_Integer)(st.st_mode & 07777));
	set_int(L, "uid", (lua_Integer)st.st_uid);
	set_int(L, "gid", (lua_Integer)st.st_gid);
	set_int(L, "ino", (lua_Integer)st.st_ino);
	set_int(L, "dev", (lua_Integer)st.st_dev);
	set_int(L, "nlink", (lua_Integer)st.st_nlink);
	lua_pushnumber(L, (lua_Number)st.st_mtim.tv_sec + (lua_Number)st.st_mtim.tv_nsec / 1e9);
	lua_setfield(L, -2, "mtime");
	return 1;
}

static int push_ok(lua_State *L)
{
	lua_pushboolean(L, 1);
	return 1;
}

static int fs_mkdir(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	mode_t mode = lua_isnoneornil(L, 2) ? 0700 : (mode_t)vl_check_mode(L, 2, 2);

	if (mkdir(path, mode) < 0)
		return vl_fail_errno(L, errno, "mkdir %s", path);
	return push_ok(L);
}

static int fs_remove(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);

	if (remove(path) < 0)
		return vl_fail_errno(L, errno, "remove %s", path);
	return push_ok(L);
}

static int fs_remove_tree(lua_State *L)
{
	size_t len;
	const char *path = luaL_checklstring(L, 1, &len);
	char parent[PATH_MAX], failed[PATH_MAX];

	/* Split into parent and last component ("a/b//" -> "a", "b"). */
	while (len > 1 && path[len - 1] == '/')
		len--;
	size_t slash = len;
	while (slash > 0 && path[slash - 1] != '/')
		slash--;
	const char *name = path + slash;
	size_t name_len = len - slash;
	if (name_len == 0 || (name_len == 1 && name[0] == '.') ||
	    (name_len == 2 && name[0] == '.' && name[1] == '.'))
		return vl_fail_errno(L, EINVAL, "remove_tree %s", path);
	if (slash == 0)
		strlcpy(parent, ".", sizeof parent);
	else if (slash == 1)
		strlcpy(parent, "/", sizeof parent);
	else if (slash - 1 < sizeof parent)
		snprintf(parent, sizeof parent, "%.*s", (int)(slash - 1), path);
	else
		return vl_fail_errno(L, ENAMETOOLONG, "remove_tree %s", path);

	char last[NAME_MAX + 1];
	if (name_len > NAME_MAX)
		return vl_fail_errno(L, ENAMETOOLONG, "remove_tree %s", path);
	memcpy(last, name, name_len);
	last[name_len] = '\0';

	int dirfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return vl_fail_errno(L, errno, "remove_tree %s", path);
	int rc = vl_remove_tree_at(dirfd, last, failed, sizeof failed);
	int err = errno;
	close(dirfd);
	if (rc < 0) {
		if (strcmp(parent, ".") == 0)
			return vl_fail_errno(L, err, "remove_tree %s", failed);
		return vl_fail_errno(L, err, "remove_tree %s/%s", parent, failed);
	}
	return push_ok(L);
}

static int fs_mkdtemp(lua_State *L)
{
	size_t len;
	const char *prefix = luaL_checklstring(L, 1, &len);
	char tmpl[PATH_MAX];

	if (len + 7 > sizeof tmpl)
		return vl_fail_errno(L, ENAMETOOLONG, "mkdtemp %s", prefix);
	snprintf(tmpl, sizeof tmpl, "%sXXXXXX", prefix);
	if (mkdtemp(tmpl) == NULL)
		return vl_fail_errno(L, errno, "mkdtemp %sXXXXXX", prefix);
	lua_pushstring(L, tmpl);
	return 1;
}

static int fs_realpath(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char out[PATH_MAX];

	if (realpath(path, out) == NULL)
		return vl_fail_errno(L, errno, "realpath %s", path);
	lua_pushstring(L, out);
	return 1;
}

static int dir_box_gc(lua_State *L)
{
	DIR **box = lua_touserdata(L, 1);
	if (*box != NULL)
		closedir(*box);
	*box = NULL;
	return 0;
}

static int fs_readlink(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	char out[PATH_MAX];

	ssize_t n = readlink(path, out, sizeof out - 1);
	if (n < 0)
		return vl_fail_errno(L, errno, "readlink %s", path);
	lua_pushlstring(L, out, (size_t)n);
	return 1;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Collect entry names into the table on top, then sort it through a C array
 * of pointers to those (anchored) strings. */
static int fs_list(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	/* The DIR lives in a box so that a memory error cannot leak it. */
	DIR **box = lua_newuserdatauv(L, sizeof *box, 0);
	*box = NULL;
	if (luaL_newmetatable(L, "vmlua.DirBox")) {
		lua_pushcfunction(L, dir_box_gc);
		lua_setfield(L, -2, "__gc");
	}
	lua_setmetatable(L, -2);
	DIR *d = *box = opendir(path);
	if (d == NULL)
		return vl_fail_errno(L, errno, "list %s", path);
	lua_newtable(L);
	int n = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			lua_pushstring(L, de->d_name);
			lua_rawseti(L, -2, ++n);
		}
		errno = 0;
	}
	int err = errno;
	*box = NULL;
	closedir(d);
	if (err != 0)
		return vl_fail_errno(L, err, "list %s", path);
	const char **names = lua_newuserdatauv(L, (size_t)n * sizeof *names + 1, 0);
	for (int i = 0; i < n; i++) {
		lua_rawgeti(L, -2, i + 1);
		names[i] = lua_tostring(L, -1);
		lua_pop(L, 1);
	}
	qsort(names, (size_t)n, sizeof *names, cmp_names);
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		lua_pushstring(L, names[i]);
		lua_rawseti(L, -2, i + 1);
	}
	return 1;
}


static int fs_close(lua_State *L)
{
	lua_Integer fd = luaL_checkinteger(L, 1);
	luaL_argcheck(L, fd >= 0 && fd <= 0x7fffffff, 1, "not an fd");
	if (close((int)fd) < 0 && errno != EINTR)
		return vl_fail_errno(L, errno, "close %d", (int)fd);
	return push_ok(L);
}

static int is_executable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0;
}

/* which(name[, path]): a name with a '/' is checked as is (made absolute);
 * otherwise the first executable regular file in path (default $PATH), as
 * core.spawn looks it up. */
static int fs_which(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const char *search = luaL_optstring(L, 2, NULL);
	char cand[PATH_MAX];

	luaL_argcheck(L, *name != '\0', 1, "empty program name");
	if (strchr(name, '/') != NULL) {
		if (!is_executable(name))
			return vl_fail_errno(L, access(name, F_OK) == 0 ? EACCES : ENOENT, "which %s", name);
		const char *rel = name;
		while (rel[0] == '.' && rel[1] == '/')
			for (rel += 2; *rel == '/'; rel++)
				;
		if (name[0] == '/' || getcwd(cand, sizeof cand) == NULL)
			lua_pushstring(L, name);
		else
			lua_pushfstring(L, "%s/%s", strcmp(cand, "/") == 0 ? "" : cand, rel);
		return 1;
	}
	if (vl_find_executable(name, search, cand, sizeof cand) < 0)
		return vl_fail_errno(L, ENOENT, "which %s", name);
	char cwd[PATH_MAX];
	if (cand[0] != '/' && getcwd(cwd, sizeof cwd) != NULL)
		lua_pushfstring(L, "%s/%s", cwd, cand);
	else
		lua_pushstring(L, cand);
	return 1;
}

/* fsync(path): make a file's data, or a directory's entries (a rename in
 * it), durable. fsync works on a read-only fd. */
static int fs_fsync(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return vl_fail_errno(L, errno, "fsync %s", path);
	int rc = fsync(fd);
	int err = errno;
	close(fd);
	if (rc < 0)
		return vl_fail_errno(L, err, "fsync %s", path);
	return push_ok(L);
}

static int fs_symlink(lua_State *L)
{
	const char *target = luaL_checkstring(L, 1);
	const char *path = luaL_checkstring(L, 2);

	if (symlink(target, path) < 0)
		return vl_fail_errno(L, errno, "symlink %s", path);
	return push_ok(L);
}

/* The file systems that keep their files in memory: a file there is RAM. */
static const struct {
	unsigned long magic;
	const char *name;
	int memory;
} fs_types[] = {
	{ TMPFS_MAGIC, "tmpfs", 1 },
	{ RAMFS_MAGIC, "ramfs", 1 },
	{ HUGETLBFS_MAGIC, "hugetlbfs", 1 },
	{ EXT4_SUPER_MAGIC, "ext4", 0 },
	{ BTRFS_SUPER_MAGIC, "btrfs", 0 },
	{ XFS_SUPER_MAGIC, "xfs", 0 },
	{ OVERLAYFS_SUPER_MAGIC, "overlay", 0 },
	{ NFS_SUPER_MAGIC, "nfs", 0 },
};

/* statfs(path): the file system's type (a name, or "other"), its magic
 * number, whether it keeps files in memory, and its block counts. */
static int fs_statfs(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	struct statfs sf;
	const char *name = "other";
	int memory = 0;

	if (statfs(path, &sf) < 0)
		return vl_fail_errno(L, errno, "statfs %s", path);
	for (size_t i = 0; i < sizeof fs_types / sizeof fs_types[0]; i++) {
		if ((unsigned long)sf.f_type == fs_types[i].magic) {
			name = fs_types[i].name;
			memory = fs_types[i].memory;
		}
	}
	lua_createtable(L, 0, 6);
	lua_pushstring(L, name);
	lua_setfield(L, -2, "type");
	set_int(L, "magic", (lua_Integer)(unsigned long)sf.f_type);
	lua_pushboolean(L, memory);
	lua_setfield(L, -2, "memory");
	set_int(L, "bsize", (lua_Integer)sf.f_bsize);
	set_int(L, "blocks", (lua_Integer)sf.f_blocks);
	set_int(L, "bavail", (lua_Integer)sf.f_bavail);
	return 1;
}

static const luaL_Reg fs_funcs[] = {
	{ "exists", fs_exists },
	{ "is_dir", fs_is_dir },
	{ "access", fs_access },
	{ "stat", fs_stat },
	{ "mkdir", fs_mkdir },
	{ "remove", fs_remove },
	{ "remove_tree", fs_remove_tree },
	{ "mkdtemp", fs_mkdtemp },
	{ "realpath", fs_realpath },
	{ "readlink", fs_readlink },
	{ "list", fs_list },
	{ "close", fs_close },
	{ "which", fs_which },
	{ "fsync", fs_fsync },
	{ "symlink", fs_symlink },
	{ "statfs", fs_statfs },
	{ NULL, NULL },
};

void vl_open_fs(lua_State *L)
{
	luaL_newlib(L, fs_funcs);
	lua_setfield(L, -2, "fs");
}
