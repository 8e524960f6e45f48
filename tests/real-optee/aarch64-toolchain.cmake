# Cross-compiling teed for Debian arm64 on a Debian bookworm x86-64 host (scripts/test-real-optee).
# Needs gcc/g++-aarch64-linux-gnu and the :arm64 dev packages installed beside the host's
# (dpkg --add-architecture arm64). The D-Bus code generator runs from the host's package.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Libraries and headers come from the multi-arch paths (/usr/lib/aarch64-linux-gnu, /usr/include);
# programs run during the build come from the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_SYSROOT_DIR} "")
set(ENV{PKG_CONFIG_PATH} "")
# (libsdbus-c++-dev:arm64's sdbus-c++-tools package names /usr/bin/sdbus-c++-xml2cpp, which is
# the host's libsdbus-c++-bin.)
