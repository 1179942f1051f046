# copy_tree REPO DEST: the repository's tracked files and untracked,
# non-ignored ones (everything outside git: the tree without build outputs),
# with no compiled gmmc/*.so, for a build of the kernels that must not touch
# the in-place ones. Sourced by asan.sh and plain_loops.sh.
copy_tree() {
    mkdir -p "$2"
    if git -C "$1" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$1" && git ls-files -z --cached --others --exclude-standard \
            | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
            | tar --null -T - -cf -) | tar -xf - -C "$2"
    else
        tar -C "$1" --exclude='./build' --exclude='*.so' --exclude='./src_c/*.c' \
            --exclude='__pycache__' -cf - . | tar -xf - -C "$2"
    fi
    find "$2/gmmc" -name '*.so' -delete
}
