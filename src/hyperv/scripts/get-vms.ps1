# Lists the VMs registered on this host (all, or those named in names[]), with their disks and groups.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$memberOf = Get-HvsnapGroupMembership
$list = @()
foreach ($vm in (Get-HvsnapVms)) {
  if ($null -ne $in.names) {
    $wanted = @($in.names)
    if (-not ($wanted -contains [string]$vm.ElementName -or $wanted -contains [string]$vm.Name)) { continue }
  }
  $list += ConvertTo-HvsnapVm $vm $memberOf
}
ConvertTo-HvsnapJson ([ordered]@{ ComputerName = $env:COMPUTERNAME; Vms = $list })
