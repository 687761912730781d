// Replays fuzz seeds (files or directories of files) through LLVMFuzzerTestOneInput under any
// compiler, so that every seed and every former crash stays a regression test.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

int run_file(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) {
        std::fprintf(stderr, "cannot read %s\n", p.c_str());
        return 1;
    }
    std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    int count = 0;
    for (int i = 1; i < argc; ++i) {
        std::filesystem::path p(argv[i]);
        if (std::filesystem::is_directory(p)) {
            for (const auto& e : std::filesystem::recursive_directory_iterator(p)) {
                if (!e.is_regular_file()) continue;
                if (run_file(e.path()) != 0) return 1;
                ++count;
            }
        } else {
            if (run_file(p) != 0) return 1;
            ++count;
        }
    }
    if (count == 0) {
        std::fprintf(stderr, "no seeds found\n");
        return 1;
    }
    std::printf("replayed %d inputs\n", count);
    return 0;
}
