set -u
nvidia-smi --query-gpu=name --format=csv,noheader
bash tools/gpu_test.sh $OUT build 2>&1 | tail -2
timeout 60 build-gpu/tests/spf_test_cuda --gtest_filter='Shapes/CudaIndexerTopK.*:CudaIndexerTopK.*' > $OUT/topk-first.log 2>&1; r=$?
echo "top-k tests rc $r"; grep -E "^\[  (PASSED|FAILED)|Failure|Expected|Which is|differing" $OUT/topk-first.log | head -20
[ $r -eq 0 ] || { echo "stopping: top-k tests failed"; exit 1; }
timeout 40 build-gpu/tests/spf_test_model_cuda > $OUT/model.log 2>&1; echo "model rc $?"; grep -E "^\[  (PASSED|FAILED)" $OUT/model.log
timeout 40 build-gpu/bench/cuda_attention_bench --shapes 16/4/256 --lengths 32768,131072 --densities "" --topk 2048 --kernels auto --repeats 3 2>&1 | grep -E "indexer|dense"
timeout 80 build-gpu/spf bench ttft --shape qwen3.5-9b --lengths 131072 --methods dense,indexer:2048 --repeats 1 --json $OUT/ttft-qwen3.5-9b.json 2>&1 | grep -v "^\[spf\]" | tail -3
timeout 50 bash tools/gpu_test.sh $OUT test 2>&1 | tail -6
