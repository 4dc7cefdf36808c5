// libjpeg_decode times libjpeg-turbo (through its libjpeg API) on the JPEGs of a folder, to
// compare with image/jpeg (BenchmarkPipeline/stdlib-jpeg in datasets). attncap does not use it:
// docs/performance.md, "Image pipeline (CPU)", says why. Debian: apt-get install libjpeg-dev.
//
//	gcc -O2 -o /tmp/libjpeg_decode bench/reference/libjpeg_decode.c -ljpeg
//	/tmp/libjpeg_decode ../shared/flickr8k-sample/Flicker8k_Dataset
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s FOLDER\n", argv[0]);
    return 2;
  }
  enum { maxFiles = 64, reps = 3 };
  unsigned char *bufs[maxFiles];
  long lens[maxFiles];
  int n = 0;
  DIR *d = opendir(argv[1]);
  if (!d) {
    perror(argv[1]);
    return 1;
  }
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d)) && n < maxFiles) {
    if (!strstr(e->d_name, ".jpg")) continue;
    snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    fseek(f, 0, SEEK_END);
    lens[n] = ftell(f);
    fseek(f, 0, SEEK_SET);
    bufs[n] = malloc(lens[n]);
    if (fread(bufs[n], 1, lens[n], f) == (size_t)lens[n]) n++;
    fclose(f);
  }
  closedir(d);
  JSAMPLE *row = malloc(3 * 65536);
  for (int denom = 1; denom <= 2; denom *= 2) {
    for (int pass = 0; pass < 2; pass++) {  // the first pass warms up
      double t0 = now();
      unsigned w = 0, h = 0;
      for (int r = 0; r < reps; r++) {
        for (int i = 0; i < n; i++) {
          struct jpeg_decompress_struct c;
          struct jpeg_error_mgr err;
          c.err = jpeg_std_error(&err);
          jpeg_create_decompress(&c);
          jpeg_mem_src(&c, bufs[i], lens[i]);
          jpeg_read_header(&c, TRUE);
          c.scale_num = 1;
          c.scale_denom = denom;  // DCT-domain downscaling
          c.out_color_space = JCS_RGB;
          jpeg_start_decompress(&c);
          while (c.output_scanline < c.output_height) jpeg_read_scanlines(&c, &row, 1);
          w = c.output_width, h = c.output_height;
          jpeg_finish_decompress(&c);
          jpeg_destroy_decompress(&c);
        }
      }
      double t = now() - t0;
      if (pass)
        printf("%d JPEGs, scale 1/%d (last %ux%u): %.0f img/s, %.2f ms each\n", n, denom, w, h,
               reps * n / t, 1000 * t / (reps * n));
    }
  }
  return 0;
}
